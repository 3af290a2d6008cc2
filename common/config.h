/* The run configuration: an INI file (sections run, budget, rewts, env,
 * backtest) whose keys mirror the users' Python config, plus
 * `--set section.key=value` overrides. Shared by the supervisor and the
 * worker. The run's configuration is fixed when the run starts: the
 * supervisor checks it once and hands every worker that same canonical
 * text (config_write_text), not the path of a file the user may edit.
 *
 * Errors never fall back to a default: every function that reads user text
 * returns -EINVAL and writes into err a message naming the origin
 * ("run.ini:12: key 'rewts.batch_size': must be >= 1, got '0'", or
 * "--set rewts.batch_size=0: ..."). Other negative errno values are I/O
 * failures (also described in err). */
#ifndef TV_CONFIG_H
#define TV_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_PATH_MAX 1024
#define CONFIG_MAX_HIDDEN 4
/* budget.rss / budget.vram = auto. */
#define CONFIG_SIZE_AUTO UINT64_MAX
#define CONFIG_MAX_KEYS 64   /* size of the private origins table */
#define CONFIG_MAX_FILES 4   /* files remembered for origins; later ones reuse the last slot */

typedef struct Config {
	/* [run] */
	char name[128];                 /* run name (default "run") */
	char data_dir[CONFIG_PATH_MAX]; /* folder of <TICKER>.csv; relative to the config file's folder */
	char tickers[4096];             /* comma list; empty = every *.csv in data_dir */
	char signals_dir[CONFIG_PATH_MAX]; /* optional folder of <TICKER>.csv signals; "" = none */
	int signals_required;           /* 1: a ticker without a signals file is an error (default 0) */
	char out_dir[CONFIG_PATH_MAX];  /* models and checkpoints (default "out"), relative to the config file's folder */
	int parallel;                   /* workers at once on CPU (default 1) */
	char gpus[256];                 /* "none" | "auto" | "0,1,..." (default "none") */
	int workers_per_gpu;            /* default 1 */
	int max_attempts;               /* crash retries per ticker (default 3) */
	double hang_timeout;            /* seconds without a heartbeat => hung (default 60) */
	double backoff;                 /* seconds, first retry delay, doubled per retry (default 1) */
	char device[8];                 /* "auto" | "cpu" | "cuda" (default "auto") */
	char model[8];                  /* "ddqn" | "lstm" (default "ddqn") */
	char price_column[16];          /* "close" | "adj_close": the close the worker trains on */
	uint64_t seed;                  /* default 42 */
	int checkpoint_every;           /* episodes (default 10) */
	int threads;                    /* BLAS threads in a worker (default 1) */
	double heartbeat;               /* seconds between worker heartbeats (default 1) */
	int chunks_at_once;             /* chunk agents trained together in one worker
	                                 * (0 = auto: 1 on the CPU, up to 8 on a GPU) */
	char metrics_file[CONFIG_PATH_MAX]; /* Prometheus textfile (node_exporter's textfile
	                                 * collector), rewritten every 5 s and at the end;
	                                 * "" = none; relative to the config file's folder */
	int keep_checkpoints;           /* 1: keep a done ticker's checkpoints (default 0:
	                                 * removed once its model is recorded) */
	double db_lock_timeout;         /* seconds the database may stay locked by another
	                                 * program before the run stops its workers (default 600) */

	/* [budget] */
	uint64_t budget_rss;            /* bytes, 0 = unlimited; accepts 512MiB, 2GiB, 1e9 ...;
	                                 * CONFIG_SIZE_AUTO for "auto" (the supervisor derives it) */
	uint64_t budget_vram;           /* bytes, 0 = unlimited, or CONFIG_SIZE_AUTO */
	int poll_ms;                    /* default 100 */
	double soft_fraction;           /* ask for a checkpoint above this share of the budget (default 0.9) */
	uint64_t budget_wal;            /* WAL bytes past which the supervisor warns and
	                                 * checkpoints as soon as it can (default 256 MiB) */
	char ladder[32];                /* rungs tried when over budget: "batch" (default), "batch,buffer,chunk", ... */
	int min_buffer_size;            /* floor of the buffer rung (default 1000) */
	int min_chunk_length;           /* floor of the chunk rung, days (default 100) */

	/* [rewts] */
	int batch_size;                 /* default 128 */
	int buffer_size;                /* default 50000 */
	int chunk_length;               /* days, default 400 */
	int episodes_per_chunk;         /* default 100 */
	int lookback_length;            /* days, default 200 */
	int fit_weights_every;          /* days, default 20 */
	int min_batch_size;             /* floor of the halving rule (default 8) */
	int hidden[CONFIG_MAX_HIDDEN];  /* "256,256,128" */
	int n_hidden;
	double learning_rate;           /* 5e-4 */
	double gamma;                   /* 0.995 */
	double grad_clip;               /* 1.0 */
	int target_update_every;        /* gradient steps, 20 */
	double epsilon_start;           /* 1.0 */
	double epsilon_decay;           /* 0.998 per episode */
	double epsilon_min;             /* 0.05 */
	int lstm_hidden;                /* 64 */
	int lstm_layers;                /* 2 */
	int lstm_window;                /* 42 */
	double lstm_learning_rate;      /* 1e-3 */
	int lstm_epochs;                /* 50 */
	int lstm_patience;              /* epochs without a better validation loss before
					 * early stopping; 0 = never stop early (default 10) */

	/* [env] */
	double initial_balance;         /* 10000 */
	double transaction_cost;        /* 0.0015 */
	double buy_fraction;            /* 0.95 */
	double vol_penalty;             /* 2.0 */
	double dd_penalty;              /* 5.0 */
	double dd_threshold;            /* 0.05 */
	double change_penalty;          /* 0.0005 */

	/* [backtest] */
	double test_fraction;           /* 0.3 */

	/* Private to config.c: where each key's value came from (default, a
	 * file and line, or --set), so that config_validate can name it.
	 * Indexed by config.c's key table; do not read or write these. */
	struct {
		unsigned char kind;     /* 0 default, 1 file, 2 --set */
		unsigned char file;     /* index into origin_files */
		int line;
	} origin[CONFIG_MAX_KEYS];
	char origin_files[CONFIG_MAX_FILES][CONFIG_PATH_MAX];
	int n_origin_files;
} Config;

/* Fills every field with its default. */
void config_defaults(Config *cfg);

/* Reads an INI file over the current values. Unknown sections or keys,
 * unparsable or out-of-range values and syntax errors are -EINVAL with
 * "path:line: ..." in err. Relative data_dir/out_dir/signals_dir are made
 * relative to the file's folder. */
int config_load(Config *cfg, const char *path, char *err, size_t errlen);

/* config_load on text held in memory (text_len bytes, no NUL needed).
 * name is what the messages and origins call it ("run.ini:12: ...") and
 * whose folder relative paths are resolved against: the user's file name,
 * never a temporary copy's. */
int config_load_text(Config *cfg, const char *text, size_t text_len, const char *name,
		     char *err, size_t errlen);

/* Applies one "section.key=value" override (origin "--set ..."). */
int config_set(Config *cfg, const char *assignment, char *err, size_t errlen);

/* Cross-field checks (buffer_size >= batch_size, min_batch_size <=
 * batch_size, test_fraction in (0,1), ...). The message names the key and
 * where its value came from (file:line, --set, or "default"). */
int config_validate(const Config *cfg, char *err, size_t errlen);

/* Writes the whole configuration as a canonical INI text (every key, fixed
 * order, values printed so that loading them back gives the same Config).
 * Used for the model file, the database and handing it to workers.
 * config_load and config_set store data_dir/out_dir/signals_dir absolute,
 * so the text means the same wherever it is loaded from; only a Config
 * that never saw a file keeps the relative defaults "data" and "out",
 * which a later load resolves against that file's folder. */
int config_write(const Config *cfg, FILE *f);

/* config_write into a malloc'd NUL-terminated text (length in *ret_len
 * when not NULL). NULL when out of memory. */
char *config_write_text(const Config *cfg, size_t *ret_len);

/* ---- the key table, for audits and for comparing runs ----
 *
 * A key is model-shaping when its value changes the trained model's
 * parameters for a given batch size: run.seed, run.model, run.threads
 * (OpenBLAS splits its reductions by thread count, so the float sums and
 * the model bytes depend on it), every rewts key except batch_size and
 * min_batch_size, every env and backtest key. The batch size is not: it
 * is the job's own (the supervisor halves it after an out-of-memory kill,
 * and a checkpoint resumes at any batch size by design). Everything else
 * (folders, tickers, parallelism, budgets, timings, device, chunks_at_once,
 * checkpoint_every) must not change a model's bytes; tests/config_audit.sh
 * checks that claim key by key.
 *
 * The supervisor records each job's model-shaping values and refuses a
 * rerun whose values differ (config_model_diff). Which keys a model or
 * checkpoint file embeds is worker/modelio's format, not this table. */

/* Number of keys; i in [0, config_n_keys()) indexes the table below. */
int config_n_keys(void);
/* Section, name and the model-shaping flag of key i; -ENOENT out of range. */
int config_key_info(int i, const char **ret_section, const char **ret_name, int *ret_model);
/* 1 if "section.key" is model-shaping, 0 if not, -ENOENT if no such key. */
int config_key_is_model(const char *key);
/* The value of key i as config_write prints it (without quotes). */
int config_key_value(const Config *cfg, int i, char *buf, size_t len);
/* Compares the model-shaping keys of the configuration a job was recorded
 * with (was) and the one of now. Returns how many differ (0 = same model)
 * and writes them into buf:
 * "rewts.hidden = 16,16 (recorded) / 32,32 (now), run.seed = ...". */
int config_model_diff(const Config *was, const Config *now, char *buf, size_t len);

/* Returns 1 when a and b hold the same value for every key (doubles
 * compared bit for bit, origins ignored), else 0. */
int config_equal(const Config *a, const Config *b);

/* Describes where a key ("section.key") got its value: "run.ini:12",
 * "--set rewts.batch_size=64" or "default". Returns -ENOENT for an unknown
 * key. */
int config_origin(const Config *cfg, const char *key, char *buf, size_t len);

/* A ticker name as run.tickers accepts it (letters, digits, '.', '_', '-',
 * '^', '='; at most 255 characters). The supervisor holds the names it
 * finds in data_dir to the same rule. -EINVAL with the reason in why. */
int config_check_ticker(const char *name, char *why, size_t whylen);

/* Parses a byte size: "123", "512KiB", "64MiB", "2GiB", "1.5GiB", "1e9", "2GB"
 * (GB = 1e9). Returns -EINVAL on anything else. */
int config_parse_size(const char *text, uint64_t *ret_bytes);

#endif
