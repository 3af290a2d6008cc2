/* What a cgroup per attempt costs (supervisor/cgroup.c): N times, a child
 * is forked (it waits in pause()), an attempt folder made, the child moved
 * in (unless "nomove" is given), SIGKILLed and reaped, and the folder
 * removed; prints the mean time of each step. Needs a writable cgroup v2
 * (root). Usage: cgroup_cost [N [nomove]] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "cgroup.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	int move = !(argc > 2 && !strcmp(argv[2], "nomove"));
	char root[4096], own[4096], why[4096], run[4096], dir[4200];
	if (cgroup_find(root, sizeof root, own, sizeof own, why, sizeof why) < 0 ||
	    cgroup_run_name(own, run, sizeof run) < 0 || cgroup_make(run) < 0) {
		fprintf(stderr, "cgroup_cost: no writable cgroup v2: %s\n", why);
		return 1;
	}
	double t_mk = 0, t_fork = 0, t_move = 0, t_kill = 0, t_rm = 0;
	for (int i = 0; i < n && n > 0; i++) {
		snprintf(dir, sizeof dir, "%s/attempt-%d", run, i);
		double a = now();
		cgroup_make(dir);
		double b = now();
		pid_t p = fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		double c = now();
		if (move)
			cgroup_move(dir, p);
		double d = now();
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		double e = now();
		cgroup_remove(dir, 500);
		double f = now();
		t_mk += b - a, t_fork += c - b, t_move += d - c, t_kill += e - d, t_rm += f - e;
	}
	cgroup_run_remove(run, 500);
	printf("%d attempts%s: mkdir %.3f ms, fork %.3f ms, move %.3f ms, kill+reap %.3f ms, "
	       "remove %.3f ms (means)\n", n, move ? "" : " (no move)", t_mk / n * 1e3,
	       t_fork / n * 1e3, t_move / n * 1e3, t_kill / n * 1e3, t_rm / n * 1e3);
	return 0;
}
