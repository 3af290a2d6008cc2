-- tickervisor state, version 2: what a run needs to notice drift and to say
-- how each attempt started.

-- The canonical INI text (config_write) of the configuration each job's
-- training started under; a rerun compares its model-shaping keys with the
-- run's and refuses on a difference. '' for jobs of version 1 databases
-- (then the next run records its own).
ALTER TABLE jobs ADD COLUMN config TEXT NOT NULL DEFAULT '';

-- How the attempt started: '' (fresh), 'resumed from PATH ...', or
-- 'started over: REASON' when a checkpoint existed but could not be used.
ALTER TABLE attempts ADD COLUMN resume TEXT NOT NULL DEFAULT '';

-- Warnings of the run that status shows (signals files missing, the WAL
-- past its limit, the database locked), one per line; '' = none.
ALTER TABLE runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '';
