/* The ReWTS weight QP: see qp.h. Everything works on the scaled normal
 * equations Q = Ps^T Ps, c = Ps^T ys (Ps = P/s, ys = y/s, s the largest
 * magnitude in P and y), so one iteration costs O(m^2) whatever n is.
 * f(w) = w^T Q w - 2 c^T w + ys^T ys, gradient 2 (Q w - c), Hessian 2Q. */
#include "qp.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QP_MAX_ITER 20000
#define QP_CHECK_EVERY 25
/* Stop iterating once the scaled KKT violation is this small. */
#define QP_TOL 1e-13

typedef struct QpProblem {
	int m;
	double Q[QP_MAX_M * QP_MAX_M];
	double c[QP_MAX_M];
	double yy;       /* ys^T ys */
	double G;        /* KKT normaliser 2 ||Ps||_F (||Ps||_F + ||ys||) */
} QpProblem;

/* Largest magnitude of P and y; -1 when any value is not finite. */
static double qp_scale(const double *P, const double *y, int n, int m)
{
	double s = 0.0;
	size_t i, nm = (size_t)n * (size_t)m;

	for (i = 0; i < nm; i++) {
		if (!isfinite(P[i]))
			return -1.0;
		if (fabs(P[i]) > s)
			s = fabs(P[i]);
	}
	for (i = 0; i < (size_t)n; i++) {
		if (!isfinite(y[i]))
			return -1.0;
		if (fabs(y[i]) > s)
			s = fabs(y[i]);
	}
	return s;
}

static void qp_build(QpProblem *q, const double *P, const double *y, int n,
		     int m, double s)
{
	double inv = s > 0.0 ? 1.0 / s : 0.0;
	double tr = 0.0;
	int r, i, j;

	q->m = m;
	memset(q->Q, 0, sizeof(double) * (size_t)m * (size_t)m);
	memset(q->c, 0, sizeof(double) * (size_t)m);
	q->yy = 0.0;
	for (r = 0; r < n; r++) {
		const double *row = P + (size_t)r * (size_t)m;
		double yr = y[r] * inv;

		q->yy += yr * yr;
		for (i = 0; i < m; i++) {
			double pi = row[i] * inv;

			q->c[i] += pi * yr;
			for (j = i; j < m; j++)
				q->Q[i * m + j] += pi * row[j] * inv;
		}
	}
	for (i = 0; i < m; i++)
		for (j = 0; j < i; j++)
			q->Q[i * m + j] = q->Q[j * m + i];
	for (i = 0; i < m; i++)
		tr += q->Q[i * m + i];
	q->G = 2.0 * sqrt(tr) * (sqrt(tr) + sqrt(q->yy));
}

/* g = 2 (Q w - c). */
static void qp_grad(const QpProblem *q, const double *w, double *g)
{
	int i, j, m = q->m;

	for (i = 0; i < m; i++) {
		double s = 0.0;

		for (j = 0; j < m; j++)
			s += q->Q[i * m + j] * w[j];
		g[i] = 2.0 * (s - q->c[i]);
	}
}

/* w^T Q w */
static double qp_quad(const QpProblem *q, const double *w)
{
	double s = 0.0;
	int i, j, m = q->m;

	for (i = 0; i < m; i++) {
		double t = 0.0;

		for (j = 0; j < m; j++)
			t += q->Q[i * m + j] * w[j];
		s += w[i] * t;
	}
	return s;
}

static double qp_fval(const QpProblem *q, const double *w)
{
	double s = qp_quad(q, w) + q->yy;
	int i;

	for (i = 0; i < q->m; i++)
		s -= 2.0 * q->c[i] * w[i];
	return s;
}

/* The violation of qp.h on the scaled problem (it is scale-free). */
static double qp_kkt_scaled(const QpProblem *q, const double *w)
{
	double g[QP_MAX_M];
	double lam = INFINITY, sum = 0.0, v = 0.0;
	int i;

	for (i = 0; i < q->m; i++) {
		if (!isfinite(w[i]))
			return INFINITY;
		sum += w[i];
		if (-w[i] > v)
			v = -w[i];
	}
	if (fabs(sum - 1.0) > v)
		v = fabs(sum - 1.0);
	if (!(q->G > 0.0))
		return v;
	qp_grad(q, w, g);
	for (i = 0; i < q->m; i++)
		if (g[i] < lam)
			lam = g[i];
	for (i = 0; i < q->m; i++) {
		double t = fabs(w[i]) * (g[i] - lam) / q->G;

		if (t > v)
			v = t;
	}
	return v;
}

static int cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x < y) - (x > y);
}

/* Euclidean projection of v onto the simplex {w >= 0, sum w = 1}
 * (sort-based, Held/Wolfe/Crowder; Duchi et al. 2008). */
static void simplex_project(const double *v, double *w, int m)
{
	double u[QP_MAX_M];
	double cum = 0.0, theta = 0.0;
	int i;

	memcpy(u, v, sizeof(double) * (size_t)m);
	qsort(u, (size_t)m, sizeof(double), cmp_desc);
	for (i = 0; i < m; i++) {
		double t;

		cum += u[i];
		t = (cum - 1.0) / (double)(i + 1);
		if (u[i] - t > 0.0)
			theta = t;
	}
	for (i = 0; i < m; i++)
		w[i] = v[i] - theta > 0.0 ? v[i] - theta : 0.0;
}

/* Largest eigenvalue of Q (symmetric PSD) by power iteration from a fixed
 * start that is not orthogonal to any particular structured vector. */
static double qp_lambda_max(const QpProblem *q)
{
	double v[QP_MAX_M], t[QP_MAX_M];
	double rq = 0.0;
	int it, i, j, m = q->m;

	for (i = 0; i < m; i++)
		v[i] = 1.0 + 0.5 * sin(1.7 * i + 0.3);
	for (it = 0; it < 200; it++) {
		double nrm = 0.0, num = 0.0, den = 0.0;

		for (i = 0; i < m; i++) {
			double s = 0.0;

			for (j = 0; j < m; j++)
				s += q->Q[i * m + j] * v[j];
			t[i] = s;
			num += v[i] * s;
			den += v[i] * v[i];
			nrm += s * s;
		}
		rq = den > 0.0 ? num / den : 0.0;
		if (!(nrm > 0.0))
			break;
		nrm = sqrt(nrm);
		for (i = 0; i < m; i++)
			v[i] = t[i] / nrm;
	}
	return rq;
}

/* Solves the k x k system A x = b in place (A row-major, partial
 * pivoting). Returns -1 when A is numerically singular. */
static int solve_dense(double *A, double *b, int k)
{
	double amax = 0.0;
	int i, j, r;

	for (i = 0; i < k * k; i++)
		if (fabs(A[i]) > amax)
			amax = fabs(A[i]);
	if (!(amax > 0.0))
		return -1;
	for (i = 0; i < k; i++) {
		int p = i;

		for (r = i + 1; r < k; r++)
			if (fabs(A[r * k + i]) > fabs(A[p * k + i]))
				p = r;
		if (fabs(A[p * k + i]) <= 1e-12 * amax)
			return -1;
		if (p != i) {
			double t;

			for (j = 0; j < k; j++) {
				t = A[i * k + j];
				A[i * k + j] = A[p * k + j];
				A[p * k + j] = t;
			}
			t = b[i];
			b[i] = b[p];
			b[p] = t;
		}
		for (r = i + 1; r < k; r++) {
			double f = A[r * k + i] / A[i * k + i];

			if (f == 0.0)
				continue;
			for (j = i; j < k; j++)
				A[r * k + j] -= f * A[i * k + j];
			b[r] -= f * b[i];
		}
	}
	for (i = k - 1; i >= 0; i--) {
		double s = b[i];

		for (j = i + 1; j < k; j++)
			s -= A[i * k + j] * b[j];
		b[i] = s / A[i * k + i];
	}
	return 0;
}

/* Active-set polish: on the support S of w, solve
 *   [2 Q_SS  1] [v]   [2 c_S]
 *   [1^T     0] [mu] = [1   ]
 * (the stationarity and sum conditions with w = 0 off S). Writes the
 * candidate to out; returns -1 when the system is singular or the
 * candidate leaves the simplex. */
static int qp_polish(const QpProblem *q, const double *w, double *out)
{
	static const double supp_tol = 1e-12;
	double A[(QP_MAX_M + 1) * (QP_MAX_M + 1)];
	double b[QP_MAX_M + 1];
	int idx[QP_MAX_M];
	int k = 0, i, j, m = q->m;

	for (i = 0; i < m; i++)
		if (w[i] > supp_tol)
			idx[k++] = i;
	if (k == 0)
		return -1;
	for (i = 0; i < k; i++) {
		for (j = 0; j < k; j++)
			A[i * (k + 1) + j] = 2.0 * q->Q[idx[i] * m + idx[j]];
		A[i * (k + 1) + k] = 1.0;
		A[k * (k + 1) + i] = 1.0;
		b[i] = 2.0 * q->c[idx[i]];
	}
	A[k * (k + 1) + k] = 0.0;
	b[k] = 1.0;
	if (solve_dense(A, b, k + 1) < 0)
		return -1;
	memset(out, 0, sizeof(double) * (size_t)m);
	for (i = 0; i < k; i++) {
		if (!isfinite(b[i]) || b[i] < 0.0)
			return -1;
		out[idx[i]] = b[i];
	}
	return 0;
}

/* FISTA with function-value restart from w (feasible), in place. Returns
 * the number of iterations. */
static int qp_fista(const QpProblem *q, double *w, double L)
{
	double x[QP_MAX_M], yk[QP_MAX_M], g[QP_MAX_M], z[QP_MAX_M], xn[QP_MAX_M];
	double d[QP_MAX_M];
	double t = 1.0, fx;
	int it, i, m = q->m;

	memcpy(x, w, sizeof(double) * (size_t)m);
	memcpy(yk, w, sizeof(double) * (size_t)m);
	fx = qp_fval(q, x);
	for (it = 1; it <= QP_MAX_ITER; it++) {
		double dd = 0.0, dqd, fn, tn;

		qp_grad(q, yk, g);
		for (i = 0; i < m; i++)
			z[i] = yk[i] - g[i] / L;
		simplex_project(z, xn, m);
		for (i = 0; i < m; i++) {
			d[i] = xn[i] - yk[i];
			dd += d[i] * d[i];
		}
		/* The step is safe when the curvature along d is at most L;
		 * otherwise L was underestimated: raise it and redo. */
		dqd = 2.0 * qp_quad(q, d);
		if (dd > 0.0 && dqd > L * dd * (1.0 + 1e-12)) {
			L = 2.0 * dqd / dd;
			continue;
		}
		fn = qp_fval(q, xn);
		if (fn > fx && t > 1.0) {
			/* Momentum overshot: restart from x. */
			t = 1.0;
			memcpy(yk, x, sizeof(double) * (size_t)m);
			continue;
		}
		tn = 0.5 * (1.0 + sqrt(1.0 + 4.0 * t * t));
		for (i = 0; i < m; i++)
			yk[i] = xn[i] + ((t - 1.0) / tn) * (xn[i] - x[i]);
		memcpy(x, xn, sizeof(double) * (size_t)m);
		fx = fn;
		t = tn;
		if (dd == 0.0 || (it % QP_CHECK_EVERY == 0 && qp_kkt_scaled(q, x) < QP_TOL))
			break;
	}
	memcpy(w, x, sizeof(double) * (size_t)m);
	return it > QP_MAX_ITER ? QP_MAX_ITER : it;
}

static void qp_uniform(double *w, int m)
{
	int i;

	for (i = 0; i < m; i++)
		w[i] = 1.0 / (double)m;
}

int qp_simplex_lsq_raw(const double *P, const double *y, int n, int m,
		       double *ret_w, QpInfo *ret_info)
{
	QpProblem *q = NULL;
	QpInfo info = {0};
	double w[QP_MAX_M], cand[QP_MAX_M];
	double s, L, trace = 0.0;
	int i, ret = 0;

	if (m < 0 || m > QP_MAX_M || n < 0)
		return -EINVAL;
	if ((size_t)n * (size_t)m > 0 && (!P || !y))
		return -EINVAL;
	if (m > 0 && !ret_w)
		return -EINVAL;
	qp_uniform(w, m);
	s = (n > 0 && m > 0) ? qp_scale(P, y, n, m) : -1.0;
	if (s < 0.0) {
		info.fallback = 1;
		goto done;
	}
	/* The problem struct is ~33 KB: heap rather than stack. */
	q = malloc(sizeof(*q));
	if (!q) {
		/* No memory to solve: uniform is the documented failure answer. */
		info.fallback = 1;
		goto done;
	}
	qp_build(q, P, y, n, m, s);
	for (i = 0; i < m; i++)
		trace += q->Q[i * m + i];
	if (trace > 0.0) {
		double lam = qp_lambda_max(q);

		/* Power iteration approaches lambda_max from below; a small
		 * margin, never above the trace (an upper bound). */
		L = 2.0 * fmin(trace, fmax(lam * 1.01, trace * 1e-12));
		info.iterations = qp_fista(q, w, L);
		if (qp_polish(q, w, cand) == 0 &&
		    qp_kkt_scaled(q, cand) < qp_kkt_scaled(q, w)) {
			memcpy(w, cand, sizeof(double) * (size_t)m);
			info.polished = 1;
		}
	}
	for (i = 0; i < m; i++) {
		if (!isfinite(w[i])) {
			qp_uniform(w, m);
			info.fallback = 1;
			break;
		}
	}
	if (!info.fallback)
		info.kkt = qp_kkt_scaled(q, w);
done:
	info.objective = (n > 0 && m > 0 && !(s < 0.0)) ? qp_objective(P, y, n, m, w) : 0.0;
	if (m > 0)
		memcpy(ret_w, w, sizeof(double) * (size_t)m);
	if (ret_info)
		*ret_info = info;
	free(q);
	return ret;
}

int qp_simplex_lsq(const double *P, const double *y, int n, int m,
		   double *ret_w, QpInfo *ret_info)
{
	double w[QP_MAX_M];
	QpInfo info;
	double sum = 0.0;
	int i, ret;

	ret = qp_simplex_lsq_raw(P, y, n, m, w, &info);
	if (ret < 0)
		return ret;
	if (m == 0)
		goto done;
	for (i = 0; i < m; i++) {
		if (w[i] < QP_WEIGHT_FLOOR)
			w[i] = 0.0;
		sum += w[i];
	}
	/* sum >= 1/QP_MAX_M > QP_WEIGHT_FLOOR before zeroing, so some weight
	 * survives; guard anyway. */
	if (sum > 0.0) {
		for (i = 0; i < m; i++)
			w[i] /= sum;
	} else {
		qp_uniform(w, m);
		info.fallback = 1;
	}
	if (!info.fallback && n > 0)
		info.objective = qp_objective(P, y, n, m, w);
	memcpy(ret_w, w, sizeof(double) * (size_t)m);
done:
	if (ret_info)
		*ret_info = info;
	return 0;
}

double qp_objective(const double *P, const double *y, int n, int m, const double *w)
{
	double s = 0.0, inv, acc = 0.0;
	int r, i;

	if (n <= 0)
		return 0.0;
	for (r = 0; r < n; r++) {
		if (fabs(y[r]) > s)
			s = fabs(y[r]);
		for (i = 0; i < m; i++)
			if (fabs(P[(size_t)r * m + i] * w[i]) > s)
				s = fabs(P[(size_t)r * m + i] * w[i]);
	}
	if (!isfinite(s))
		return INFINITY;
	if (s == 0.0)
		return 0.0;
	inv = 1.0 / s;
	for (r = 0; r < n; r++) {
		double e = -y[r] * inv;

		for (i = 0; i < m; i++)
			e += P[(size_t)r * m + i] * inv * w[i];
		acc += e * e;
	}
	return acc * s * s;
}

double qp_kkt_violation(const double *P, const double *y, int n, int m, const double *w)
{
	QpProblem *q;
	double s, v;
	int i;

	if (m <= 0 || m > QP_MAX_M || n < 0 || !w)
		return INFINITY;
	for (i = 0; i < m; i++)
		if (!isfinite(w[i]))
			return INFINITY;
	s = n > 0 ? qp_scale(P, y, n, m) : 0.0;
	if (s < 0.0)
		return INFINITY;
	q = malloc(sizeof(*q));
	if (!q)
		return INFINITY;
	qp_build(q, P, y, n, m, s);
	v = qp_kkt_scaled(q, w);
	free(q);
	return v;
}
