-- Title search for the chat list (`q=title:… or plain words`): a trigram index answers
-- `title ILIKE '%word%'` without reading every chat the caller can see. pg_trgm ships with
-- PostgreSQL and is a trusted extension (the database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX chats_title_trgm_idx ON chats USING gin (title gin_trgm_ops);
