/* The ceiling under the supervisor's throughput: a bare libuv loop that
 * only uv_spawns PROGRAM (default /bin/true) N times, PAR at a time, and
 * counts exits per second. Whatever `tickervisor run` reaches with trivial
 * jobs is this minus its own work (store, frames, logs).
 * Usage: spawn_ceiling [N [PAR [PROGRAM [ARG]]]] */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

static uv_loop_t *loop;
static int started, finished, total = 1000, par = 2;
static char *args[3] = { "/bin/true", NULL, NULL };

static void start(void);

static void close_cb(uv_handle_t *h)
{
	free(h);
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
	(void)status;
	(void)sig;
	uv_close((uv_handle_t *)p, close_cb);
	finished++;
	if (started < total)
		start();
}

static void start(void)
{
	uv_process_t *p = calloc(1, sizeof(*p));
	uv_process_options_t o = { 0 };
	uv_stdio_container_t io[3] = { { UV_IGNORE, { 0 } }, { UV_IGNORE, { 0 } }, { UV_IGNORE, { 0 } } };
	int r;

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	o.file = args[0];
	o.args = args;
	o.exit_cb = exit_cb;
	o.stdio = io;
	o.stdio_count = 3;
	r = uv_spawn(loop, p, &o);
	if (r < 0) {
		fprintf(stderr, "uv_spawn %s: %s\n", args[0], uv_strerror(r));
		exit(1);
	}
	started++;
}

int main(int argc, char **argv)
{
	uint64_t t0;

	if (argc > 1)
		total = atoi(argv[1]);
	if (argc > 2)
		par = atoi(argv[2]);
	if (argc > 3)
		args[0] = argv[3];
	if (argc > 4)
		args[1] = argv[4];
	loop = uv_default_loop();
	t0 = uv_hrtime();
	for (int i = 0; i < par && i < total; i++)
		start();
	uv_run(loop, UV_RUN_DEFAULT);
	printf("%d uv_spawn of %s, %d at a time: %.0f exits/s\n", finished, args[0], par,
	       finished / ((double)(uv_hrtime() - t0) / 1e9));
	return 0;
}
