/* A cgroup v2 folder per attempt, so that the worker's whole process tree
 * can be found and killed even when a descendant left its process group
 * and session with setsid() and the supervisor died (SIGKILL) before it
 * could sweep it (docs/supervisor-lifecycle.md).
 *
 * Layout: <v2 mount><our own cgroup>/tickervisor-<pid>-<time> is the run
 * folder, one attempt-<n> folder in it per attempt. No controller is
 * enabled anywhere (cgroup.procs and cgroup.kill need none), so the v2
 * rule that a cgroup with controllers in subtree_control holds no
 * processes of its own never applies: our own cgroup keeps the
 * supervisor, the run folder holds nothing, the attempt folders hold the
 * workers.
 *
 * The run folder's path is recorded (runs.cgroup) before it is made, each
 * attempt's once its worker is started (attempts.cgroup): a supervisor
 * that dies leaves nothing the next one on the database cannot find.
 *
 * The parsers and cgroup_is_ours() are pure (tests/test_cgroup.c); the
 * rest reads and writes the cgroup file system. */
#ifndef TV_CGROUP_H
#define TV_CGROUP_H

#include <stddef.h>

/* The mount point of the cgroup2 file system in a /proc/self/mountinfo
 * text: /sys/fs/cgroup when it is cgroup2, else the first cgroup2 mount
 * (e.g. /sys/fs/cgroup/unified on a hybrid v1+v2 host); mnt_root gets the
 * mount's root inside the hierarchy ("/" unless a subtree is bound).
 * Returns 0, or -ENOENT when there is no cgroup2 mount. */
int cgroup_parse_mountinfo(const char *text, char *mnt, size_t mnt_len, char *mnt_root,
			   size_t root_len);

/* Our v2 cgroup in a /proc/self/cgroup text (the "0::PATH" line).
 * Returns 0, or -ENOENT. */
int cgroup_parse_self(const char *text, char *path, size_t len);

/* Finds the cgroup2 mount (root) and the folder of our own v2 cgroup in
 * it (own_dir). Returns 0, or -ENOENT with why. */
int cgroup_find(char *root, size_t root_len, char *own_dir, size_t own_len, char *why,
		size_t why_len);

/* The run folder's path: own_dir/tickervisor-<pid>-<time>. 0 or
 * -ENAMETOOLONG. */
int cgroup_run_name(const char *own_dir, char *buf, size_t len);

/* 1 when path names a run folder this program makes: under root, its
 * last component "tickervisor-*", no "." or ".." component. A recorded
 * path is checked with it before anything in it is killed. */
int cgroup_is_ours(const char *root, const char *path);

/* Creates a folder (the run's, an attempt's); moves pid (0: the caller)
 * into one. 0 or a negative errno. */
int cgroup_make(const char *dir);
int cgroup_move(const char *dir, int pid);

/* How a worker starts in its attempt's folder: the supervisor spawns its
 * own executable as `tickervisor CGROUP_EXEC_ARG DIR WORKER ARGS...`,
 * which moves itself into DIR ("0" into cgroup.procs) and execs WORKER
 * ARGS (argv). The worker and everything it forks are in the folder from
 * their first instruction, and the supervisor's loop never waits for the
 * move (the kernel makes it wait for an RCU grace period, about 10 ms).
 * A failed move is said on stderr and the worker starts anyway (its
 * process group still holds its tree). Returns only when the exec
 * failed: 127, said on stderr. */
#define CGROUP_EXEC_ARG "__cgroup-exec"
int cgroup_exec(const char *dir, char **argv);

/* Kills every process in an attempt folder (cgroup.kill where the kernel
 * has it, else SIGKILL to each pid of cgroup.procs until none is left)
 * and removes it, waiting up to wait_ms for the killed to leave. Returns
 * how many processes were in it (>= 0), -ENOENT when it is gone already,
 * or another negative errno (it stays). */
int cgroup_remove(const char *dir, int wait_ms);

/* The same for a run folder: every attempt-* folder in it, then the
 * folder itself. Returns the processes killed, -ENOENT, or -errno. */
int cgroup_run_remove(const char *run_dir, int wait_ms);

#endif
