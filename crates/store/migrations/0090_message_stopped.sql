-- An assistant message the user stopped (Stop / interrupt) before the model finished it: the UI
-- marks it "Stopped" instead of presenting a cut-off answer as complete.
ALTER TABLE chat_messages ADD COLUMN stopped boolean NOT NULL DEFAULT false;
