-- Stop means stop: after the user interrupts a turn, the chat's queued messages wait until the
-- user sends something or promotes one (before, the queue head ran right after Stop).
-- Cleared whenever the chat becomes pending again.
ALTER TABLE chats ADD COLUMN queue_held boolean NOT NULL DEFAULT false;
