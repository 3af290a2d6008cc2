/* The ReWTS ensemble-weight quadratic program:
 *
 *   minimise ||P w - y||^2  subject to  w >= 0, sum(w) = 1
 *
 * P is n x m row-major double (n lookback days, m <= QP_MAX_M chunk
 * models), y has n values. Solved by accelerated projected gradient
 * (FISTA with adaptive restart) with the exact Euclidean projection onto
 * the simplex and step 1/L, L = 2*lambda_max(P^T P) from power iteration
 * (enlarged on the spot if a step shows it too small), followed by an
 * active-set polish: the equality-constrained least squares on the support
 * found, accepted when it stays feasible and lowers the KKT violation.
 * P and y are scaled by their largest magnitude first (the minimiser does
 * not change), so values of any size work. Deterministic: no randomness,
 * same inputs give the same bits. Each call allocates one ~33 KB scratch
 * struct (freed before returning; if malloc fails, the solver falls back
 * to uniform weights). Nothing here prints. */
#ifndef TV_QP_H
#define TV_QP_H

#define QP_MAX_M 64
/* Weights below this are zeroed by qp_simplex_lsq (then renormalised). */
#define QP_WEIGHT_FLOOR 1e-4

typedef struct QpInfo {
	int iterations;      /* projected-gradient iterations used */
	double objective;    /* ||P w - y||^2 of the weights returned */
	double kkt;          /* qp_kkt_violation of the solver's solution
			      * before any thresholding (0 for fallbacks) */
	int polished;        /* 1 when the active-set polish was accepted */
	int fallback;        /* 1 when uniform weights were returned because
			      * the problem had no usable data (n == 0,
			      * m == 0, non-finite P or y) or the solver
			      * failed to produce finite weights */
} QpInfo;

/* Solves the QP and writes the raw solution (no thresholding) to ret_w
 * (m values) and, when ret_info is not NULL, *ret_info.
 * Degenerate input is not an error: n == 0, non-finite values in P or y,
 * or a solver failure give uniform weights 1/m with info->fallback = 1
 * (m == 0 writes nothing and sets the flag). A P of all zeros is a
 * well-posed problem whose every feasible w is optimal: the result is the
 * uniform start, without the flag.
 * Returns 0, or -EINVAL for m < 0, m > QP_MAX_M, n < 0, or NULL P/y
 * with n*m > 0 or NULL ret_w with m > 0 (programmer errors). */
int qp_simplex_lsq_raw(const double *P, const double *y, int n, int m,
		       double *ret_w, QpInfo *ret_info);

/* qp_simplex_lsq_raw, then weights < QP_WEIGHT_FLOOR set to 0 and the rest
 * renormalised to sum 1 (the ReWTS rule). info->objective is that of the
 * returned (thresholded) weights, info->kkt that of the raw solution. */
int qp_simplex_lsq(const double *P, const double *y, int n, int m,
		   double *ret_w, QpInfo *ret_info);

/* ||P w - y||^2, computed with scaling so that large inputs do not overflow
 * before the final result does. 0 for n == 0. */
double qp_objective(const double *P, const double *y, int n, int m, const double *w);

/* The KKT violation of w for the QP, a scale-free number (0 at an exact
 * optimum). With g = 2 P^T (P w - y) and lambda = min_i g_i (the only
 * multiplier that makes g_i - lambda >= 0 for all i: dual feasibility then
 * holds by construction), it is the largest of:
 *   primal:            |sum(w) - 1|, max_i max(0, -w_i)
 *   complementarity /
 *   stationarity:      max_i |w_i| * (g_i - lambda) / G
 * where G = 2 ||P||_F (||P||_F + ||y||_2) bounds |g| (G = 0: P = 0, every
 * feasible w is optimal and the gradient part is 0). w_i (g_i - lambda)
 * weighs each stationarity defect by the weight sitting on it, so a
 * converged solution with round-off-sized weights off the support still
 * scores near 0, while a wrong support scores by how much weight is on it.
 * The sum of these terms over i is the Frank-Wolfe gap, an upper bound on
 * (f(w) - f*) / G. Returns +inf for non-finite input or w. */
double qp_kkt_violation(const double *P, const double *y, int n, int m, const double *w);

#endif
