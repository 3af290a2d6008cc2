-- tickervisor state: what the report plots beyond the metrics (issue 10).
-- From the result frame's optional curves (docs/protocol.md), one row per
-- point; a result without them has no rows here.

-- The out-of-sample portfolio value and buy-and-hold, both 1.0 on the first
-- test day; day = test days since then (a multiple of the frame's step).
CREATE TABLE result_curve (
	result_id INTEGER NOT NULL REFERENCES results(id),
	day INTEGER NOT NULL,
	equity REAL NOT NULL,
	buy_hold REAL NOT NULL,
	PRIMARY KEY (result_id, day)
) WITHOUT ROWID;

-- The ensemble's weights at each refit: fit = 0-based refit number, date =
-- the decision day (yyyymmdd), model = the chunk model's index.
CREATE TABLE result_weights (
	result_id INTEGER NOT NULL REFERENCES results(id),
	fit INTEGER NOT NULL,
	date INTEGER NOT NULL,
	model INTEGER NOT NULL,
	weight REAL NOT NULL,
	PRIMARY KEY (result_id, fit, model)
) WITHOUT ROWID;
