-- A manual title regeneration holds a short lease on the chat, so a second one (or a rename)
-- while the model is writing a title is refused instead of racing it.
ALTER TABLE chats ADD COLUMN title_regenerating_until timestamptz NULL;
