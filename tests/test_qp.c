/* Tests of the ReWTS weight QP (worker/qp.c) against independent answers:
 * brute force over the simplex (a dense grid for m <= 3; the vertices and
 * 10,000 random simplex points for larger m), instances whose optimum is
 * known by construction, and the KKT conditions of the raw solution. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "qp.h"
#include "check.h"

/* Plain objective, independent of qp.c's scaled one. */
static double obj(const double *P, const double *y, int n, int m, const double *w)
{
	double s = 0.0;

	for (int r = 0; r < n; r++) {
		double e = -y[r];

		for (int i = 0; i < m; i++)
			e += P[r * m + i] * w[i];
		s += e * e;
	}
	return s;
}

/* Smallest objective over brute-force candidates. */
static double brute(const double *P, const double *y, int n, int m, Rng *rng)
{
	double w[QP_MAX_M];
	double best = INFINITY;
	const int G = 300;

	if (m == 1) {
		w[0] = 1.0;
		return obj(P, y, n, m, w);
	}
	if (m == 2) {
		for (int a = 0; a <= G; a++) {
			w[0] = (double)a / G;
			w[1] = 1.0 - w[0];
			best = fmin(best, obj(P, y, n, m, w));
		}
		return best;
	}
	if (m == 3) {
		for (int a = 0; a <= G; a++)
			for (int b = 0; a + b <= G; b++) {
				w[0] = (double)a / G;
				w[1] = (double)b / G;
				w[2] = (double)(G - a - b) / G;
				best = fmin(best, obj(P, y, n, m, w));
			}
		return best;
	}
	for (int v = 0; v < m; v++) {
		memset(w, 0, sizeof(w));
		w[v] = 1.0;
		best = fmin(best, obj(P, y, n, m, w));
	}
	for (int k = 0; k < 10000; k++) {
		double sum = 0.0;

		/* Uniform on the simplex: normalised exponentials. */
		for (int i = 0; i < m; i++) {
			w[i] = -log(1.0 - rng_uniform(rng));
			sum += w[i];
		}
		for (int i = 0; i < m; i++)
			w[i] /= sum;
		best = fmin(best, obj(P, y, n, m, w));
	}
	return best;
}

static void check_feasible(const double *w, int m, const char *what)
{
	double sum = 0.0;

	for (int i = 0; i < m; i++) {
		CHECK(isfinite(w[i]) && w[i] >= 0.0, "%s: w[%d] = %g", what, i, w[i]);
		sum += w[i];
	}
	CHECK(fabs(sum - 1.0) < 1e-12, "%s: sum = %.17g", what, sum);
}

/* Solves one instance and checks raw KKT, feasibility, brute force, and the
 * thresholded result. */
static void check_instance(const double *P, const double *y, int n, int m,
			   Rng *rng, const char *what)
{
	double w[QP_MAX_M], wt[QP_MAX_M];
	QpInfo info, info2;
	double f, fb, kkt, scale = 0.0;
	int ret;

	ret = qp_simplex_lsq_raw(P, y, n, m, w, &info);
	CHECK(ret == 0, "%s: ret %d", what, ret);
	check_feasible(w, m, what);
	CHECK(!info.fallback, "%s: unexpected fallback", what);
	kkt = qp_kkt_violation(P, y, n, m, w);
	CHECK(kkt < 1e-7, "%s (n=%d m=%d): KKT violation %g (iters %d, polished %d)",
	      what, n, m, kkt, info.iterations, info.polished);
	CHECK(fabs(kkt - info.kkt) <= 1e-12 + 1e-6 * kkt,
	      "%s: info.kkt %g vs %g", what, info.kkt, kkt);
	f = obj(P, y, n, m, w);
	fb = brute(P, y, n, m, rng);
	for (int r = 0; r < n; r++)
		scale += y[r] * y[r];
	scale = fmax(scale, fb);
	CHECK(f <= fb + 1e-9 * (1.0 + scale), "%s (n=%d m=%d): objective %.12g > brute %.12g",
	      what, n, m, f, fb);
	CHECK(fabs(info.objective - f) <= 1e-9 * (1.0 + f), "%s: info.objective %.12g vs %.12g",
	      what, info.objective, f);

	ret = qp_simplex_lsq(P, y, n, m, wt, &info2);
	CHECK(ret == 0, "%s: thresholded ret %d", what, ret);
	check_feasible(wt, m, what);
	for (int i = 0; i < m; i++)
		CHECK(wt[i] == 0.0 || wt[i] >= QP_WEIGHT_FLOOR, "%s: w[%d] = %g below floor",
		      what, i, wt[i]);
	/* Zeroing weights < 1e-4 moves w by at most ~m*1e-4: the objective
	 * moves accordingly, never by much. */
	CHECK(info2.objective >= f - 1e-9 * (1.0 + f), "%s: thresholded objective below raw optimum", what);
}

static void random_matrix(double *a, size_t k, Rng *rng, double scale)
{
	for (size_t i = 0; i < k; i++)
		a[i] = scale * rng_normal(rng);
}

static void test_random(Rng *rng)
{
	static const int ns[] = {1, 2, 5, 20, 200};
	static const int ms[] = {1, 2, 3, 4, 7, 16, 64};
	static double P[200 * QP_MAX_M], y[200];

	for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++)
		for (size_t b = 0; b < sizeof(ms) / sizeof(ms[0]); b++)
			for (int rep = 0; rep < 3; rep++) {
				int n = ns[a], m = ms[b];

				random_matrix(P, (size_t)n * m, rng, 1.0);
				random_matrix(y, (size_t)n, rng, 1.0);
				check_instance(P, y, n, m, rng, "random");
			}
}

/* ReWTS-like data: model P&L columns correlated with y (small returns). */
static void test_rewts_like(Rng *rng)
{
	static double P[200 * 8], y[200];
	int n = 200, m = 8;

	for (int rep = 0; rep < 5; rep++) {
		for (int r = 0; r < n; r++) {
			y[r] = 0.01 * rng_normal(rng);
			for (int i = 0; i < m; i++)
				P[r * m + i] = (rng_uniform(rng) < 0.5 + 0.05 * i ? 1.0 : 0.0) * y[r]
					       + 0.002 * rng_normal(rng);
		}
		check_instance(P, y, n, m, rng, "rewts-like");
	}
}

static void test_structured(Rng *rng)
{
	static double P[50 * 10], y[50], Q[50 * 10];
	double w[QP_MAX_M], w2[QP_MAX_M];
	double wstar[5] = {0.1, 0.3, 0.0, 0.45, 0.15};
	QpInfo info;
	int n, m;

	/* Known interior/face optimum: y = P w* with P of full column rank
	 * (n > m), so w* is the unique minimiser with objective 0. */
	n = 30;
	m = 5;
	random_matrix(P, (size_t)n * m, rng, 1.0);
	for (int r = 0; r < n; r++) {
		y[r] = 0.0;
		for (int i = 0; i < m; i++)
			y[r] += P[r * m + i] * wstar[i];
	}
	CHECK(qp_simplex_lsq_raw(P, y, n, m, w, &info) == 0, "exact");
	for (int i = 0; i < m; i++)
		CHECK(fabs(w[i] - wstar[i]) < 1e-7, "exact: w[%d] = %.10g, want %g", i, w[i], wstar[i]);
	CHECK(info.objective < 1e-12, "exact: objective %g", info.objective);
	check_instance(P, y, n, m, rng, "exact");

	/* The same with every weight inside the simplex: the active-set
	 * polish (the KKT system on the support) is taken, and lands on w*
	 * to rounding, not to FISTA's tolerance. */
	{
		static const double inner[5] = {0.1, 0.3, 0.05, 0.4, 0.15};
		for (int r = 0; r < n; r++) {
			y[r] = 0.0;
			for (int i = 0; i < m; i++)
				y[r] += P[r * m + i] * inner[i];
		}
		CHECK(qp_simplex_lsq_raw(P, y, n, m, w, &info) == 0, "inner");
		CHECK(info.polished == 1, "inner: the polish was not taken");
		for (int i = 0; i < m; i++)
			CHECK(fabs(w[i] - inner[i]) < 1e-12, "inner: w[%d] = %.17g, want %g", i, w[i], inner[i]);
	}

	/* Known vertex: y equals column 2, other columns are far from it. */
	for (int r = 0; r < n; r++) {
		for (int i = 0; i < m; i++)
			P[r * m + i] = (i == 2) ? rng_normal(rng) : 5.0 + rng_normal(rng);
		y[r] = P[r * m + 2];
	}
	CHECK(qp_simplex_lsq(P, y, n, m, w, &info) == 0, "vertex");
	CHECK(w[2] == 1.0, "vertex: w[2] = %.17g", w[2]);
	check_instance(P, y, n, m, rng, "vertex");

	/* The KKT check itself must flag a wrong answer: uniform weights on
	 * the vertex problem are far from optimal. */
	for (int i = 0; i < m; i++)
		w2[i] = 1.0 / m;
	CHECK(qp_kkt_violation(P, y, n, m, w2) > 1e-3, "kkt of a wrong answer: %g",
	      qp_kkt_violation(P, y, n, m, w2));
	w2[0] = -0.1;
	w2[1] += 0.1;
	CHECK(qp_kkt_violation(P, y, n, m, w2) >= 0.1 - 1e-12, "kkt of an infeasible w");

	/* Duplicate columns (rank deficient). */
	n = 40;
	m = 6;
	random_matrix(P, (size_t)n * m, rng, 1.0);
	random_matrix(y, (size_t)n, rng, 1.0);
	for (int r = 0; r < n; r++) {
		P[r * m + 1] = P[r * m + 0];
		P[r * m + 4] = P[r * m + 0];
		P[r * m + 5] = P[r * m + 2] + P[r * m + 3]; /* linear dependence */
	}
	check_instance(P, y, n, m, rng, "duplicate columns");

	/* Duplicate of the best single model: weights split, sum kept. */
	for (int r = 0; r < n; r++) {
		y[r] = P[r * m + 0];
	}
	CHECK(qp_simplex_lsq_raw(P, y, n, m, w, &info) == 0, "dup best");
	CHECK(fabs(w[0] + w[1] + w[4] - 1.0) < 1e-6, "dup best: %g %g %g", w[0], w[1], w[4]);
	check_instance(P, y, n, m, rng, "duplicate best");

	/* n < m: many exact fits; any is fine, objective must be ~0 when the
	 * target lies in the convex hull of the columns. */
	n = 3;
	m = 10;
	random_matrix(P, (size_t)n * m, rng, 1.0);
	for (int r = 0; r < n; r++) {
		y[r] = 0.0;
		for (int i = 0; i < m; i++)
			y[r] += P[r * m + i] / m;
	}
	CHECK(qp_simplex_lsq_raw(P, y, n, m, w, &info) == 0, "n<m");
	CHECK(info.objective < 1e-10, "n<m: objective %g", info.objective);
	check_instance(P, y, n, m, rng, "n<m hull");

	/* y = 0. */
	n = 20;
	m = 4;
	random_matrix(P, (size_t)n * m, rng, 1.0);
	memset(y, 0, sizeof(y));
	check_instance(P, y, n, m, rng, "y=0");

	/* Scale invariance: the same problem x1e150 and x1e-150 gives the
	 * same weights. */
	n = 25;
	m = 7;
	random_matrix(P, (size_t)n * m, rng, 1.0);
	random_matrix(y, (size_t)n, rng, 1.0);
	CHECK(qp_simplex_lsq_raw(P, y, n, m, w, &info) == 0, "scale base");
	for (double sc = 1e-150; sc < 1e151; sc *= 1e150) {
		double ys[50];

		for (int k = 0; k < n * m; k++)
			Q[k] = P[k] * sc;
		for (int r = 0; r < n; r++)
			ys[r] = y[r] * sc;
		CHECK(qp_simplex_lsq_raw(Q, ys, n, m, w2, &info) == 0, "scale %g", sc);
		CHECK(!info.fallback, "scale %g: fallback", sc);
		for (int i = 0; i < m; i++)
			CHECK(fabs(w[i] - w2[i]) < 1e-7, "scale %g: w[%d] %g vs %g", sc, i, w2[i], w[i]);
		CHECK(qp_kkt_violation(Q, ys, n, m, w2) < 1e-7, "scale %g: kkt %g", sc,
		      qp_kkt_violation(Q, ys, n, m, w2));
	}
	/* Mixed scales: P tiny, y large. */
	for (int k = 0; k < n * m; k++)
		Q[k] = P[k] * 1e-6;
	for (int r = 0; r < n; r++)
		y[r] *= 1e6;
	check_instance(Q, y, n, m, rng, "mixed scales");

	/* Determinism: same input, same bits. */
	CHECK(qp_simplex_lsq_raw(P, y, n, m, w, NULL) == 0, "det 1");
	CHECK(qp_simplex_lsq_raw(P, y, n, m, w2, NULL) == 0, "det 2");
	CHECK(memcmp(w, w2, sizeof(double) * (size_t)m) == 0, "not deterministic");
}

static void test_degenerate(void)
{
	double P[4 * 3] = {0}, y[4] = {1, 2, 3, 4};
	double w[QP_MAX_M];
	QpInfo info;

	/* All-zero P: every feasible w is optimal; uniform, no fallback. */
	CHECK(qp_simplex_lsq(P, y, 4, 3, w, &info) == 0, "zero P");
	check_feasible(w, 3, "zero P");
	CHECK(!info.fallback, "zero P flagged fallback");
	CHECK(fabs(info.objective - 30.0) < 1e-12, "zero P objective %g", info.objective);
	CHECK(qp_kkt_violation(P, y, 4, 3, w) < 1e-15, "zero P kkt");

	/* All zero including y. */
	memset(y, 0, sizeof(y));
	CHECK(qp_simplex_lsq(P, y, 4, 3, w, &info) == 0, "all zero");
	check_feasible(w, 3, "all zero");
	CHECK(info.objective == 0.0, "all zero objective");

	/* n == 0: fallback to uniform. */
	CHECK(qp_simplex_lsq(P, y, 0, 3, w, &info) == 0, "n=0");
	check_feasible(w, 3, "n=0");
	CHECK(info.fallback == 1, "n=0 not flagged");
	for (int i = 0; i < 3; i++)
		CHECK(w[i] == 1.0 / 3.0, "n=0 not uniform");

	/* Non-finite input: fallback, no NaN out. */
	for (int k = 0; k < 4; k++) {
		double Pn[4 * 3], yn[4];

		for (int i = 0; i < 12; i++)
			Pn[i] = i * 0.1;
		for (int i = 0; i < 4; i++)
			yn[i] = i;
		if (k == 0)
			Pn[5] = NAN;
		else if (k == 1)
			Pn[11] = INFINITY;
		else if (k == 2)
			yn[3] = -INFINITY;
		else
			yn[0] = NAN;
		CHECK(qp_simplex_lsq(Pn, yn, 4, 3, w, &info) == 0, "nonfinite %d", k);
		check_feasible(w, 3, "nonfinite");
		CHECK(info.fallback == 1, "nonfinite %d not flagged", k);
		CHECK(qp_kkt_violation(Pn, yn, 4, 3, w) == INFINITY, "kkt of nonfinite input");
	}

	/* m == 0: nothing to weigh, flagged, success. */
	CHECK(qp_simplex_lsq(P, y, 4, 0, w, &info) == 0, "m=0");
	CHECK(info.fallback == 1, "m=0 not flagged");

	/* Programmer errors. */
	CHECK(qp_simplex_lsq(P, y, 4, QP_MAX_M + 1, w, &info) == -EINVAL, "m too big");
	CHECK(qp_simplex_lsq(P, y, -1, 3, w, &info) == -EINVAL, "n < 0");
	CHECK(qp_simplex_lsq(NULL, y, 4, 3, w, &info) == -EINVAL, "NULL P");

	/* m == 1: the only feasible point. */
	CHECK(qp_simplex_lsq(P, y, 4, 1, w, &info) == 0 && w[0] == 1.0, "m=1");
}

static void bench(Rng *rng)
{
	static double P[200 * QP_MAX_M], y[200];
	double w[QP_MAX_M];
	struct timespec t0, t1;
	QpInfo info;
	int reps = 20, iters = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < reps; k++) {
		random_matrix(P, 200 * QP_MAX_M, rng, 0.01);
		random_matrix(y, 200, rng, 0.01);
		qp_simplex_lsq(P, y, 200, QP_MAX_M, w, &info);
		iters += info.iterations;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("qp n=200 m=64: %.3f ms per solve, %.0f iterations on average\n",
	       ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / reps,
	       (double)iters / reps);
}

int main(void)
{
	Rng rng;

	rng_seed(&rng, 12345);
	test_degenerate();
	test_structured(&rng);
	test_random(&rng);
	test_rewts_like(&rng);
	bench(&rng);
	return check_done("qp");
}
