-- tickervisor state, version 1. Applied by store_open() inside one
-- transaction; PRAGMA user_version and application_id are set by the store.
-- Times are seconds since the Unix epoch (REAL); sizes are bytes.

CREATE TABLE runs (
	id INTEGER PRIMARY KEY,
	started_at REAL NOT NULL,
	ended_at REAL,
	host TEXT NOT NULL DEFAULT '',
	pid INTEGER NOT NULL DEFAULT 0,
	name TEXT NOT NULL DEFAULT '',
	config TEXT NOT NULL DEFAULT '',      -- canonical INI text of the run
	budget_rss INTEGER NOT NULL DEFAULT 0,
	budget_vram INTEGER NOT NULL DEFAULT 0,
	outcome TEXT NOT NULL DEFAULT ''      -- '' while running
);

-- One job per ticker; it persists across runs on the same database.
CREATE TABLE jobs (
	id INTEGER PRIMARY KEY,
	ticker TEXT NOT NULL UNIQUE,
	data_path TEXT NOT NULL,
	signals_path TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'running', 'done', 'failed')),
	batch_size INTEGER NOT NULL CHECK (batch_size > 0),
	fit_batch_size INTEGER NOT NULL DEFAULT 0,
	charged_attempts INTEGER NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,      -- all attempts ever
	chunk INTEGER NOT NULL DEFAULT 0,
	episode INTEGER NOT NULL DEFAULT 0,
	done_episodes INTEGER NOT NULL DEFAULT 0,
	total_episodes INTEGER NOT NULL DEFAULT 0,
	progress_at REAL NOT NULL DEFAULT 0,
	ckpt_id INTEGER,                      -- last good checkpoint
	last_reason TEXT NOT NULL DEFAULT '',
	model_path TEXT NOT NULL DEFAULT '',
	last_attempt_id INTEGER,
	updated_at REAL NOT NULL DEFAULT 0
);

CREATE TABLE attempts (
	id INTEGER PRIMARY KEY,
	job_id INTEGER NOT NULL REFERENCES jobs(id),
	run_id INTEGER REFERENCES runs(id),
	pid INTEGER NOT NULL,
	gpu INTEGER NOT NULL DEFAULT -1,      -- -1 = CPU
	batch_size INTEGER NOT NULL,
	started_at REAL NOT NULL,
	ended_at REAL,                        -- NULL while open
	start_episodes INTEGER NOT NULL DEFAULT 0,
	exit_kind TEXT,                       -- policy_exit_kind_name()
	exit_code INTEGER,
	term_signal INTEGER,
	cur_rss INTEGER NOT NULL DEFAULT 0,
	peak_rss INTEGER NOT NULL DEFAULT 0,
	cur_vram INTEGER NOT NULL DEFAULT 0,
	peak_vram INTEGER NOT NULL DEFAULT 0,
	charged INTEGER NOT NULL DEFAULT 0,
	reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attempts_job ON attempts(job_id);
CREATE INDEX attempts_open ON attempts(ended_at) WHERE ended_at IS NULL;

CREATE TABLE checkpoints (
	id INTEGER PRIMARY KEY,
	job_id INTEGER NOT NULL REFERENCES jobs(id),
	attempt_id INTEGER REFERENCES attempts(id),
	path TEXT NOT NULL,
	checksum INTEGER NOT NULL,            -- CRC of the file (unsigned 32-bit)
	chunk INTEGER NOT NULL,
	episode INTEGER NOT NULL,
	done_episodes INTEGER NOT NULL,
	created_at REAL NOT NULL
);
CREATE INDEX checkpoints_job ON checkpoints(job_id);

-- Memory over time per attempt (from the supervisor's /proc sampling and
-- the worker's heartbeats).
CREATE TABLE mem_samples (
	attempt_id INTEGER NOT NULL REFERENCES attempts(id),
	t REAL NOT NULL,
	rss INTEGER NOT NULL,
	vram INTEGER NOT NULL,
	bytes_replay INTEGER NOT NULL,
	bytes_activations INTEGER NOT NULL,
	bytes_weights INTEGER NOT NULL,
	bytes_device INTEGER NOT NULL
);
CREATE INDEX mem_samples_attempt ON mem_samples(attempt_id, t);

-- Loss curve per attempt (one row per progress report).
CREATE TABLE loss_samples (
	attempt_id INTEGER NOT NULL REFERENCES attempts(id),
	t REAL NOT NULL,
	chunk INTEGER NOT NULL,
	episode INTEGER NOT NULL,
	step INTEGER NOT NULL,
	done_episodes INTEGER NOT NULL,
	loss REAL,
	epsilon REAL,
	reward REAL
);
CREATE INDEX loss_samples_attempt ON loss_samples(attempt_id, t);

-- Backtest of a finished model (MsgResult): every metric and action counts.
CREATE TABLE results (
	id INTEGER PRIMARY KEY,
	job_id INTEGER NOT NULL REFERENCES jobs(id),
	attempt_id INTEGER REFERENCES attempts(id),
	created_at REAL NOT NULL,
	model_path TEXT NOT NULL,
	model_checksum INTEGER NOT NULL,
	total_return REAL,
	sharpe REAL,
	max_drawdown REAL,
	volatility REAL,
	win_rate REAL,
	trades INTEGER,
	buy_hold_return REAL,
	test_days INTEGER,
	actions_short INTEGER,
	actions_hold INTEGER,
	actions_long INTEGER
);
CREATE INDEX results_job ON results(job_id);
