/* The pure parts of supervisor/cgroup.c: where the cgroup2 mount and our
 * own cgroup are, and which recorded paths may be killed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "check.h"

/* A hybrid v1+v2 host: the v2 hierarchy at /sys/fs/cgroup/unified. */
static const char hybrid[] =
	"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"34 30 0:31 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
	"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime shared:12 - cgroup2 cgroup2 rw\n";
/* A pure v2 host, with another cgroup2 mount listed first. */
static const char pure[] =
	"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
	"50 22 0:26 / /mnt/cg rw - cgroup2 cgroup2 rw\n"
	"26 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
/* A container with a bound subtree and no v2 elsewhere. */
static const char bound[] =
	"60 50 0:26 /system.slice/box.scope /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n";
static const char v1only[] =
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";

static void test_mountinfo(void)
{
	char mnt[256], root[256];
	CHECK(cgroup_parse_mountinfo(hybrid, mnt, sizeof mnt, root, sizeof root) == 0, "hybrid");
	CHECK(!strcmp(mnt, "/sys/fs/cgroup/unified") && !strcmp(root, "/"), "%s %s", mnt, root);
	CHECK(cgroup_parse_mountinfo(pure, mnt, sizeof mnt, root, sizeof root) == 0, "pure");
	CHECK(!strcmp(mnt, "/sys/fs/cgroup"), "/sys/fs/cgroup comes first: %s", mnt);
	CHECK(cgroup_parse_mountinfo(bound, mnt, sizeof mnt, root, sizeof root) == 0, "bound");
	CHECK(!strcmp(mnt, "/sys/fs/cgroup") && !strcmp(root, "/system.slice/box.scope"), "%s %s",
	      mnt, root);
	CHECK(cgroup_parse_mountinfo(v1only, mnt, sizeof mnt, root, sizeof root) == -ENOENT, "v1 only");
	CHECK(cgroup_parse_mountinfo("", mnt, sizeof mnt, root, sizeof root) == -ENOENT, "empty");
}

static void test_self(void)
{
	char p[256];
	CHECK(cgroup_parse_self("4:memory:/a/b\n0::/user.slice/x.scope\n", p, sizeof p) == 0, "v2 line");
	CHECK(!strcmp(p, "/user.slice/x.scope"), "%s", p);
	CHECK(cgroup_parse_self("0::/\n", p, sizeof p) == 0 && !strcmp(p, "/"), "root: %s", p);
	CHECK(cgroup_parse_self("4:memory:/a\n1:cpu:/\n", p, sizeof p) == -ENOENT, "v1 only");
}

static void test_is_ours(void)
{
	const char *r = "/sys/fs/cgroup/unified";
	CHECK(cgroup_is_ours(r, "/sys/fs/cgroup/unified/tickervisor-12-1700000000"), "run folder");
	CHECK(cgroup_is_ours(r, "/sys/fs/cgroup/unified/a.slice/tickervisor-12-1"), "nested");
	CHECK(!cgroup_is_ours(r, "/sys/fs/cgroup/unified"), "the root itself");
	CHECK(!cgroup_is_ours(r, "/sys/fs/cgroup/unified/"), "the root with a slash");
	CHECK(!cgroup_is_ours(r, "/sys/fs/cgroup/unified/system.slice"), "someone else's");
	CHECK(!cgroup_is_ours(r, "/sys/fs/cgroup/unified/tickervisor-"), "prefix alone");
	CHECK(!cgroup_is_ours(r, "/sys/fs/cgroup/unified/tickervisor-1/.."), "dot dot");
	CHECK(!cgroup_is_ours(r, "/sys/fs/cgroup/unified/../tickervisor-1"), "dot dot above");
	CHECK(!cgroup_is_ours(r, "/sys/fs/cgroup/unifiedx/tickervisor-1"), "another mount");
	CHECK(!cgroup_is_ours(r, "/tmp/tickervisor-1"), "outside");
	CHECK(!cgroup_is_ours("", "/tickervisor-1"), "no mount");
	CHECK(!cgroup_is_ours(r, "/sys/fs/cgroup/unified/tickervisor-1//"), "empty component");
}

int main(void)
{
	test_mountinfo();
	test_self();
	test_is_ours();
	return check_done("cgroup");
}
