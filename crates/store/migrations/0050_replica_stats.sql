-- The operational surface for replicas (issue 16): each server process records in its heartbeat
-- how many WebSockets it holds (chat streams, watch sockets, workspace agents), so
-- `GET /api/v2/replicas` can show every process's load from any one of them.
ALTER TABLE replicas
    ADD COLUMN stream_sockets integer NOT NULL DEFAULT 0,
    ADD COLUMN watch_sockets integer NOT NULL DEFAULT 0,
    ADD COLUMN agent_sockets integer NOT NULL DEFAULT 0;
