-- What a task's script printed (the bounded end of it), as its worker reported it.
ALTER TABLE task ADD COLUMN console text;
