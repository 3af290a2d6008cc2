/* gpus = auto under a scheduler: the devices CUDA_VISIBLE_DEVICES lists
 * (issue 9: a Slurm array task with --gres=gpu:1 must use its own GPU,
 * not every GPU of the node). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "placement.h"
#include "check.h"

int main(void)
{
	static const struct {
		const char *spec;
		int detected;
		const char *visible;
		int rc, n, ids[4];
		const char *msg;
	} cases[] = {
		/* Unset: every detected device, as before. */
		{ "auto", 4, NULL, 0, 4, { 0, 1, 2, 3 }, NULL },
		/* Slurm gave this task GPU 2 (of 4 on the node), or 3 and 1. */
		{ "auto", 4, "2", 0, 1, { 2 }, NULL },
		{ " auto ", 4, "3,1", 0, 2, { 3, 1 }, NULL },
		/* No GPU for this job. */
		{ "auto", 4, "", 0, 0, { 0 }, NULL },
		{ "auto", 4, "NoDevFiles", 0, 0, { 0 }, NULL },
		{ "auto", 4, "-1", 0, 0, { 0 }, NULL },
		/* No driver: nothing to respect (CPU). */
		{ "auto", 0, "0", 0, 0, { 0 }, NULL },
		/* An explicit list and none stay what they say. */
		{ "0,1", 4, "2", 0, 2, { 0, 1 }, NULL },
		{ "none", 4, "2", 0, 0, { 0 }, NULL },
		/* Not understood: refused, naming the variable. */
		{ "auto", 4, "GPU-5a4c1e7e-0000", -EINVAL, 0, { 0 }, "CUDA_VISIBLE_DEVICES='GPU-5a4c1e7e-0000'" },
		{ "auto", 2, "0,5", -EINVAL, 0, { 0 }, "out of range" },
		{ "auto", 4, "1,1", -EINVAL, 0, { 0 }, "listed twice" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int ids[8] = { -9, -9, -9, -9, -9, -9, -9, -9 }, n = -9;
		char err[512] = "";
		int rc = placement_parse_visible(cases[i].spec, cases[i].detected, cases[i].visible, ids,
		                                 8, &n, err, sizeof err);
		CHECK(rc == cases[i].rc, "case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
		if (rc < 0) {
			CHECK(strstr(err, cases[i].msg), "case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
			continue;
		}
		CHECK(n == cases[i].n, "case %zu: %d ids, want %d", i, n, cases[i].n);
		for (int k = 0; k < n && k < 4; k++)
			CHECK(ids[k] == cases[i].ids[k], "case %zu: id %d is %d, want %d", i, k, ids[k],
			      cases[i].ids[k]);
	}
	return check_done("placement_visible");
}
