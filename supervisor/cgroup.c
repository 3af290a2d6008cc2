/* A cgroup v2 folder per attempt (cgroup.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

#define CGROUP_RUN_PREFIX "tickervisor-"
#define CGROUP_ATTEMPT_PREFIX "attempt-"

int cgroup_parse_mountinfo(const char *text, char *mnt, size_t mnt_len, char *mnt_root,
			   size_t root_len)
{
	int found = 0;
	for (const char *line = text; *line;) {
		size_t ll = strcspn(line, "\n");
		char buf[2 * PATH_MAX + 256], root[PATH_MAX], point[PATH_MAX], type[64];
		snprintf(buf, sizeof buf, "%.*s", (int)ll, line);
		line += ll + (line[ll] == '\n');
		/* "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE ..." */
		const char *dash = strstr(buf, " - ");
		if (!dash || sscanf(buf, "%*s %*s %*s %4095s %4095s", root, point) != 2 ||
		    sscanf(dash + 3, "%63s", type) != 1 || strcmp(type, "cgroup2"))
			continue;
		if (!found || !strcmp(point, "/sys/fs/cgroup")) {
			snprintf(mnt, mnt_len, "%s", point);
			snprintf(mnt_root, root_len, "%s", root);
			found = 1;
		}
	}
	return found ? 0 : -ENOENT;
}

int cgroup_parse_self(const char *text, char *path, size_t len)
{
	for (const char *line = text; *line;) {
		size_t ll = strcspn(line, "\n");
		if (ll >= 3 && !strncmp(line, "0::", 3)) {
			snprintf(path, len, "%.*s", (int)(ll - 3), line + 3);
			return 0;
		}
		line += ll + (line[ll] == '\n');
	}
	return -ENOENT;
}

/* The whole of a small /proc or cgroup file, NUL-terminated, in buf. */
static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	ssize_t k;
	while (n + 1 < len && (k = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)k;
	close(fd);
	buf[n] = '\0';
	return (int)n;
}

static int write_text(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int err = n == (ssize_t)strlen(text) ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return err;
}

int cgroup_find(char *root, size_t root_len, char *own_dir, size_t own_len, char *why,
		size_t why_len)
{
	static char text[1 << 16];
	char mnt_root[PATH_MAX], own[PATH_MAX];
	own_dir[0] = '\0';
	if (read_text("/proc/self/mountinfo", text, sizeof text) < 0 ||
	    cgroup_parse_mountinfo(text, root, root_len, mnt_root, sizeof mnt_root) < 0) {
		root[0] = '\0';
		snprintf(why, why_len, "no cgroup2 file system is mounted");
		return -ENOENT;
	}
	if (read_text("/proc/self/cgroup", text, sizeof text) < 0 ||
	    cgroup_parse_self(text, own, sizeof own) < 0) {
		snprintf(why, why_len, "this process is in no cgroup v2 (/proc/self/cgroup)");
		return -ENOENT;
	}
	/* A bound subtree: our path is relative to the mount's root. */
	const char *rel = own;
	size_t lr = strlen(mnt_root);
	if (strcmp(mnt_root, "/") && !strncmp(own, mnt_root, lr) && (own[lr] == '/' || !own[lr]))
		rel = own + lr;
	while (*rel == '/')
		rel++;
	int n = snprintf(own_dir, own_len, "%s%s%s", root, *rel ? "/" : "", rel);
	if (n < 0 || (size_t)n >= own_len) {
		own_dir[0] = '\0';
		snprintf(why, why_len, "the path of our cgroup under %s is too long", root);
		return -ENAMETOOLONG;
	}
	return 0;
}

int cgroup_run_name(const char *own_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/" CGROUP_RUN_PREFIX "%d-%lld", own_dir, (int)getpid(),
			 (long long)time(NULL));
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cgroup_is_ours(const char *root, const char *path)
{
	size_t lr = strlen(root);
	if (!lr || strncmp(path, root, lr) || path[lr] != '/')
		return 0;
	const char *last = NULL;
	for (const char *p = path + lr; *p == '/';) {
		const char *name = p + 1;
		size_t l = strcspn(name, "/");
		if (l == 0 || (l == 1 && name[0] == '.') || (l == 2 && !strncmp(name, "..", 2)))
			return 0;
		last = name;
		p = name + l;
	}
	return last && !strncmp(last, CGROUP_RUN_PREFIX, strlen(CGROUP_RUN_PREFIX)) &&
	       last[strlen(CGROUP_RUN_PREFIX)];
}

int cgroup_make(const char *dir)
{
	return mkdir(dir, 0755) < 0 ? -errno : 0;
}

int cgroup_exec(const char *dir, char **argv)
{
	int err = cgroup_move(dir, 0);
	if (err < 0)
		fprintf(stderr, "tickervisor[%d]: cannot join the cgroup %s: %s; the process group "
			"alone holds this worker's tree\n", (int)getpid(), dir, strerror(-err));
	execv(argv[0], argv);
	fprintf(stderr, "tickervisor[%d]: cannot start the worker %s: %s\n", (int)getpid(), argv[0],
		strerror(errno));
	return 127;
}

int cgroup_move(const char *dir, int pid)
{
	char text[32];
	snprintf(text, sizeof text, "%d", pid);
	return write_text(dir, "cgroup.procs", text);
}

/* SIGKILL to every pid in dir/cgroup.procs; returns how many, or -errno. */
static int kill_procs(const char *dir)
{
	char path[PATH_MAX + 32], text[16384];
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	int r = read_text(path, text, sizeof text);
	if (r < 0)
		return r;
	int n = 0;
	for (char *p = text; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 1)
			n += kill((pid_t)pid, SIGKILL) == 0;
		p = end;
	}
	return n;
}

int cgroup_remove(const char *dir, int wait_ms)
{
	/* SIGKILL to each listed process (which counts them), then
	 * cgroup.kill, which also gets what forked meanwhile; a kernel without
	 * it (before 5.14) gets the list killed again on each try. */
	int n = kill_procs(dir);
	if (n < 0)
		return n;
	int has_kill = write_text(dir, "cgroup.kill", "1") == 0;
	for (int waited = 0;; waited += 2) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return n;
		if (errno != EBUSY || waited >= wait_ms)
			return -errno;
		if (!has_kill)
			kill_procs(dir);
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
}

int cgroup_run_remove(const char *run_dir, int wait_ms)
{
	DIR *d = opendir(run_dir);
	if (!d)
		return -errno;
	int killed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, CGROUP_ATTEMPT_PREFIX, strlen(CGROUP_ATTEMPT_PREFIX)))
			continue;
		char dir[PATH_MAX + 256];
		snprintf(dir, sizeof dir, "%s/%s", run_dir, e->d_name);
		int r = cgroup_remove(dir, wait_ms);
		if (r > 0)
			killed += r;
	}
	closedir(d);
	for (int waited = 0;; waited += 2) {
		if (rmdir(run_dir) == 0 || errno == ENOENT)
			return killed;
		if (errno != EBUSY || waited >= wait_ms)
			return -errno;
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
}
