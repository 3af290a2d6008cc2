-- Issue 12: memory-aware scheduling.
-- jobs: the rung of the memory ladder a ticker is on and the shape it
-- trains with there (0 = the configuration's value). Later runs of the
-- same ticker start from it, like batch_size.
ALTER TABLE jobs ADD COLUMN rung TEXT NOT NULL DEFAULT 'batch';
ALTER TABLE jobs ADD COLUMN rung_buffer_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN rung_chunk_length INTEGER NOT NULL DEFAULT 0;
-- attempts: the buffer_size and chunk_length each attempt trained with.
ALTER TABLE attempts ADD COLUMN buffer_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN chunk_length INTEGER NOT NULL DEFAULT 0;
-- runs: how the budget was chosen (a sentence), what the scheduler waits
-- for right now ('' = nothing), and the limit on workers at once after a
-- kernel OOM kill (0 = none).
ALTER TABLE runs ADD COLUMN memory_plan TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN memory_wait TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN workers_limit INTEGER NOT NULL DEFAULT 0;
