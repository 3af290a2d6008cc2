-- Issue 7: the cgroup v2 folders that hold the workers' process trees
-- (supervisor/cgroup.h); '' where the run had no writable cgroup v2 and
-- process groups alone held them.
-- runs: the run's folder, recorded before it is made. The next supervisor
-- on this host kills what is left in a recorded folder and removes it.
ALTER TABLE runs ADD COLUMN cgroup TEXT NOT NULL DEFAULT '';
-- attempts: the attempt's folder in it (the worker was moved there).
ALTER TABLE attempts ADD COLUMN cgroup TEXT NOT NULL DEFAULT '';
