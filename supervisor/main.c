/* tickervisor: the command line.
 *
 *   tickervisor run CONFIG [--db PATH] [--set section.key=value ...]
 *                   [--retrain] [--retry-failed] [--worker PATH]
 *                   [--shard I/N] [--shards N]
 *   tickervisor status [DB ...] [--watch] [--json] [--interval S] [--no-color]
 *
 * Exit status: run_main()'s RUN_EXIT_* for run, status_main()'s for
 * status, 64 for usage errors. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "run.h"
#include "status.h"

/* --set overrides one command line may carry. */
#define MAIN_MAX_SETS 256

static void usage(FILE *f)
{
	fputs("usage: tickervisor run CONFIG [--db PATH] [--set section.key=value ...]\n"
	      "                       [--retrain] [--retry-failed] [--worker PATH]\n"
	      "                       [--shard I/N] [--shards N]\n"
	      "       tickervisor status [DB ...] [--watch] [--json] [--interval S] [--no-color]\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run")) {
		static const char *sets[MAIN_MAX_SETS];
		RunOptions opt;
		char err[256];
		if (run_parse_args(argc - 1, argv + 1, &opt, sets, MAIN_MAX_SETS, err, sizeof err) < 0) {
			fprintf(stderr, "tickervisor run: %s\n", err);
			usage(stderr);
			return 64;
		}
		return run_main(&opt);
	}
	if (!strcmp(argv[1], "status"))
		return status_main(argc - 1, argv + 1);
	fprintf(stderr, "tickervisor: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 64;
}
