/* tickervisor: the command line.
 *
 *   tickervisor run CONFIG [--db PATH] [--set section.key=value ...]
 *                   [--retrain] [--retry-failed] [--worker PATH]
 *                   [--shard I/N] [--shards N]
 *   tickervisor status [DB ...] [--watch] [--json] [--interval S] [--no-color] [--run N]
 *   tickervisor runs DB ... [--config]
 *   tickervisor report DB ... -o FILE.html [--csv DIR]
 * and --help / --version on each.
 *
 * Exit status: run_main()'s RUN_EXIT_* for run, the command's own for the
 * others, 64 for usage errors of the command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "report.h"
#include "run.h"
#include "status.h"

/* --set overrides one command line may carry. */
#define MAIN_MAX_SETS 256

static void usage(FILE *f)
{
	fputs("usage: tickervisor run CONFIG [--db PATH] [--set section.key=value ...]\n"
	      "                       [--retrain] [--retry-failed] [--worker PATH]\n"
	      "                       [--shard I/N] [--shards N]\n"
	      "       tickervisor status [DB ...] [--watch] [--json] [--interval S] [--no-color]\n"
	      "                          [--run N]\n"
	      "       tickervisor runs DB ... [--config]\n"
	      "       tickervisor report DB ... -o FILE.html [--csv DIR]\n"
	      "       tickervisor COMMAND --help;  tickervisor --version\n",
	      f);
}

static void run_usage(FILE *f)
{
	fputs("usage: tickervisor run CONFIG [--db PATH] [--set section.key=value ...]\n"
	      "                       [--retrain] [--retry-failed] [--worker PATH]\n"
	      "                       [--shard I/N] [--shards N]\n"
	      "  Trains every ticker of CONFIG under the supervisor; run it again to resume.\n"
	      "  --db PATH          the database (default OUT_DIR/tickervisor.db;\n"
	      "                     OUT_DIR/tickervisor.shard-I-of-N.db for a shard)\n"
	      "  --set S.K=V        override one setting of CONFIG (repeatable)\n"
	      "  --retrain          train finished tickers again from scratch\n"
	      "  --retry-failed     give failed tickers a new set of attempts\n"
	      "  --shard I/N        train shard I of N (0 <= I < N; a ticker's shard is a hash\n"
	      "                     of its name); default from SLURM_ARRAY_TASK_ID/COUNT\n"
	      "  --shards N         the count for an index from JOB_COMPLETION_INDEX\n"
	      "  --worker PATH      the worker program (default $TV_WORKER, else beside tickervisor)\n"
	      "  -h, --help         this help;  -V, --version  the version\n", f);
}

static int run_command(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "set", required_argument, NULL, 's' },
		{ "worker", required_argument, NULL, 'w' },
		{ "retrain", no_argument, NULL, 'R' },
		{ "retry-failed", no_argument, NULL, 'F' },
		{ "shard", required_argument, NULL, 'S' },
		{ "shards", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *sets[MAIN_MAX_SETS];
	RunOptions opt;
	int c;

	memset(&opt, 0, sizeof opt);
	opt.sets = sets;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", longs, NULL)) != -1) {
		switch (c) {
		case 'd': opt.db_path = optarg; break;
		case 'w': opt.worker_path = optarg; break;
		case 'R': opt.retrain = 1; break;
		case 'F': opt.retry_failed = 1; break;
		case 'S': opt.shard = optarg; break;
		case 'N': opt.shards = optarg; break;
		case 's':
			if (opt.n_sets >= MAIN_MAX_SETS) {
				fprintf(stderr, "tickervisor run: too many --set (at most %d)\n", MAIN_MAX_SETS);
				return 64;
			}
			sets[opt.n_sets++] = optarg;
			break;
		case 'h': run_usage(stdout); return 0;
		case 'V': printf("tickervisor %s\n", TV_VERSION); return 0;
		case ':':
			fprintf(stderr, "tickervisor run: %s needs a value\n", argv[optind - 1]);
			run_usage(stderr);
			return 64;
		default:
			fprintf(stderr, "tickervisor run: option '%s' is unknown or needs a value\n",
			        argv[optind - 1]);
			run_usage(stderr);
			return 64;
		}
	}
	if (optind >= argc) {
		fputs("tickervisor run: missing CONFIG\n", stderr);
		run_usage(stderr);
		return 64;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "tickervisor run: unexpected argument '%s'\n", argv[optind + 1]);
		run_usage(stderr);
		return 64;
	}
	opt.config_path = argv[optind];
	return run_main(&opt);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	const char *cmd = argv[1];
	/* A worker's start in its attempt's cgroup (run.c, cgroup.h). */
	if (!strcmp(cmd, CGROUP_EXEC_ARG) && argc >= 4)
		return cgroup_exec(argv[2], argv + 3);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("tickervisor %s\n", TV_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return run_command(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return status_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "runs"))
		return status_runs_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "report"))
		return report_main(argc - 1, argv + 1);
	fprintf(stderr, "tickervisor: unknown command '%s'\n", cmd);
	usage(stderr);
	return 64;
}
