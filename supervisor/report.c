/* The HTML report and its CSV tables (see report.h). SQL reads go through
 * store_query(); nothing here writes to a database. */
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define DEFAULT_POINTS 300
#define PLOT_W 560
#define PLOT_H 190
#define PAD_L 64
#define PAD_R 12
#define PAD_T 22
#define PAD_B 30

static const char *const COLORS[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#bcbd22" };
#define N_COLORS 8

/* ---- Small helpers ---- */

static void html_esc(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out);
		}
	}
}

/* An id attribute from a ticker: letters and digits kept, the rest '_'. */
static void html_id(FILE *out, const char *prefix, int db, const char *s)
{
	fprintf(out, "%s%d-", prefix, db);
	for (; *s; s++)
		fputc((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') ? *s : '_', out);
}

static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void fmt_time(double t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "-");
}

static void fmt_dur(double s, char *buf, size_t len)
{
	if (!(s >= 0)) {
		snprintf(buf, len, "-");
		return;
	}
	long t = lround(s);
	if (t < 60)
		snprintf(buf, len, "%lds", t);
	else if (t < 3600)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

static const char *fmt_mib(double bytes, char *buf, size_t len)
{
	if (bytes <= 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", bytes / 1048576.0);
	return buf;
}

/* ---- Series and their downsampling ---- */

typedef struct Series {
	double *x, *y;
	int n, cap;
	int failed;
} Series;

static void series_push(Series *s, double x, double y)
{
	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 256;
		double *nx = realloc(s->x, sizeof *nx * (size_t)cap);
		if (nx)
			s->x = nx;
		double *ny = nx ? realloc(s->y, sizeof *ny * (size_t)cap) : NULL;
		if (!nx || !ny) {
			s->failed = 1;
			return;
		}
		s->y = ny;
		s->cap = cap;
	}
	s->x[s->n] = x;
	s->y[s->n] = y;
	s->n++;
}

static void series_free(Series *s)
{
	free(s->x);
	free(s->y);
	memset(s, 0, sizeof *s);
}

/* Cuts s to at most max points in place: equal runs of consecutive points
 * become one, at the run's last x with its maximum y (keep_max) or its mean
 * y. The first and last points stay where they are. */
static void downsample(Series *s, int max, int keep_max)
{
	if (s->n <= max || max < 2)
		return;
	int n = s->n, out = 0;
	double per = (double)n / max;
	for (int b = 0; b < max; b++) {
		int lo = (int)(b * per), hi = (int)((b + 1) * per);
		if (hi > n)
			hi = n;
		if (hi <= lo)
			continue;
		double y = keep_max ? -INFINITY : 0;
		int cnt = 0;
		for (int k = lo; k < hi; k++) {
			if (!isfinite(s->y[k]))
				continue;
			if (keep_max)
				y = s->y[k] > y ? s->y[k] : y;
			else
				y += s->y[k];
			cnt++;
		}
		double x = b == 0 ? s->x[lo] : s->x[hi - 1];
		s->x[out] = x;
		s->y[out] = cnt ? (keep_max ? y : y / cnt) : NAN;
		out++;
	}
	s->n = out;
}

/* ---- SVG plots ---- */

typedef struct Line {
	const Series *s;
	const char *color;
	const char *label;
	int dashed;
} Line;

typedef struct Plot {
	const char *title;
	const char *xlabel;
	const char *ylabel;
	double y_scale;       /* values are divided by this for the axis labels */
	Line lines[16];
	int n_lines;
	double hline;         /* a horizontal line (budget) if > 0, in data units */
	const char *hlabel;
	double vx[16];        /* vertical markers (batch halvings) */
	const char *vlabel[16];
	int n_v;
	double kx[16], ky[16];/* cross markers (kills) */
	int n_k;
} Plot;

static double px(double x, double x0, double x1)
{
	return PAD_L + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (PLOT_W - PAD_L - PAD_R);
}

static double py(double y, double y0, double y1)
{
	return PLOT_H - PAD_B - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (PLOT_H - PAD_T - PAD_B);
}

static void svg_plot(FILE *out, const Plot *p)
{
	double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
	int any = 0;
	for (int l = 0; l < p->n_lines; l++)
		for (int k = 0; k < p->lines[l].s->n; k++) {
			double x = p->lines[l].s->x[k], y = p->lines[l].s->y[k];
			if (!isfinite(x) || !isfinite(y))
				continue;
			any = 1;
			x0 = x < x0 ? x : x0;
			x1 = x > x1 ? x : x1;
			y0 = y < y0 ? y : y0;
			y1 = y > y1 ? y : y1;
		}
	if (!any) {
		fprintf(out, "<p class=empty>%s: no data recorded</p>\n", p->title);
		return;
	}
	if (p->hline > 0) {
		y0 = p->hline < y0 ? p->hline : y0;
		y1 = p->hline > y1 ? p->hline : y1;
	}
	if (p->y_scale > 0 && y0 > 0)
		y0 = 0;  /* sizes from zero */
	double pad = (y1 - y0) * 0.05;
	if (pad <= 0)
		pad = fabs(y1) * 0.05 + 1e-9;
	y1 += pad;
	if (y0 != 0)
		y0 -= pad;
	double sc = p->y_scale > 0 ? p->y_scale : 1;

	fprintf(out, "<svg class=plot viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=img>"
	        "<title>", PLOT_W, PLOT_H, PLOT_W, PLOT_H);
	html_esc(out, p->title);
	fprintf(out, "</title><text x=\"%d\" y=\"14\" class=t>", PAD_L);
	html_esc(out, p->title);
	fputs("</text>", out);
	/* Axes, five ticks on each. */
	fprintf(out, "<path class=ax d=\"M%d %d V%d H%d\"/>", PAD_L, PAD_T, PLOT_H - PAD_B,
	        PLOT_W - PAD_R);
	for (int k = 0; k <= 4; k++) {
		double yv = y0 + (y1 - y0) * k / 4, xv = x0 + (x1 - x0) * k / 4;
		fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=yl>%.4g</text>", PAD_L - 4,
		        py(yv, y0, y1) + 3, yv / sc);
		fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=xl>%.4g</text>", px(xv, x0, x1),
		        PLOT_H - PAD_B + 12, xv);
	}
	fprintf(out, "<text x=\"%d\" y=\"%d\" class=xl>", (PLOT_W + PAD_L) / 2, PLOT_H - 4);
	html_esc(out, p->xlabel);
	fprintf(out, "</text><text x=\"4\" y=\"%d\" class=t>", PAD_T - 8 + 20);
	html_esc(out, p->ylabel);
	fputs("</text>", out);
	if (p->hline > 0) {
		double y = py(p->hline, y0, y1);
		fprintf(out, "<path class=budget d=\"M%d %.1f H%d\"/><text x=\"%d\" y=\"%.1f\" class=bl>",
		        PAD_L, y, PLOT_W - PAD_R, PLOT_W - PAD_R - 2, y - 3);
		html_esc(out, p->hlabel ? p->hlabel : "");
		fputs("</text>", out);
	}
	for (int k = 0; k < p->n_v; k++) {
		double x = px(p->vx[k], x0, x1);
		fprintf(out, "<path class=halve d=\"M%.1f %d V%d\"/><text x=\"%.1f\" y=\"%d\" class=hl>",
		        x, PAD_T, PLOT_H - PAD_B, x + 2, PAD_T + 8);
		html_esc(out, p->vlabel[k] ? p->vlabel[k] : "");
		fputs("</text>", out);
	}
	for (int l = 0; l < p->n_lines; l++) {
		const Series *s = p->lines[l].s;
		int pen = 0;
		fprintf(out, "<path class=line%s stroke=\"%s\" d=\"", p->lines[l].dashed ? " dashed" : "",
		        p->lines[l].color);
		for (int k = 0; k < s->n; k++) {
			if (!isfinite(s->x[k]) || !isfinite(s->y[k])) {
				pen = 0;
				continue;
			}
			double x = px(s->x[k], x0, x1), y = py(s->y[k], y0, y1);
			int alone = !pen && (k + 1 >= s->n || !isfinite(s->x[k + 1]) ||
					     !isfinite(s->y[k + 1]));
			/* A lone point (an attempt with one memory sample) is a
			 * zero-length segment, drawn as a dot by the round cap. */
			if (alone)
				fprintf(out, "M%.1f %.1fL%.1f %.1f", x, y, x, y);
			else
				fprintf(out, "%c%.1f %.1f", pen ? 'L' : 'M', x, y);
			pen = !alone;
		}
		fputs("\"/>", out);
	}
	for (int k = 0; k < p->n_k; k++) {
		double x = px(p->kx[k], x0, x1), y = py(p->ky[k], y0, y1);
		fprintf(out, "<path class=kill d=\"M%.1f %.1fl8 8m0 -8l-8 8\"/>", x - 4, y - 4);
	}
	/* Legend. */
	int lx = PAD_L + 6;
	for (int l = 0; l < p->n_lines && l < 8; l++) {
		if (!p->lines[l].label)
			continue;
		fprintf(out, "<text x=\"%d\" y=\"%d\" class=lg fill=\"%s\">", lx, PAD_T + 10 + 11 * l,
		        p->lines[l].color);
		html_esc(out, p->lines[l].label);
		fputs("</text>", out);
	}
	if (p->n_k)
		fprintf(out, "<text x=\"%d\" y=\"%d\" class=lg fill=\"#d62728\">&#215; killed over budget</text>",
		        PLOT_W - PAD_R - 150, PAD_T + 22);
	fputs("</svg>\n", out);
}

/* ---- Reading ---- */

static int series_cb(void *arg, const StoreValue *c, int n)
{
	Series *s = arg;
	(void)n;
	series_push(s, c[0].num, c[1].is_null ? NAN : c[1].num);
	return s->failed ? -ENOMEM : 0;
}

typedef struct Loss3 {
	Series loss, reward;
} Loss3;

static int loss_cb(void *arg, const StoreValue *c, int n)
{
	Loss3 *l = arg;
	(void)n;
	series_push(&l->loss, c[0].num, c[1].is_null ? NAN : c[1].num);
	series_push(&l->reward, c[0].num, c[2].is_null ? NAN : c[2].num);
	return l->loss.failed || l->reward.failed ? -ENOMEM : 0;
}

typedef struct Att {
	int64_t id;
	int batch;
	double started, ended;
	char kind[32];
	int64_t peak;
	int64_t budget;
	char reason[160];
} Att;

typedef struct Atts {
	Att v[64];
	int n, total;
} Atts;

static int att_cb(void *arg, const StoreValue *c, int n)
{
	Atts *a = arg;
	(void)n;
	a->total++;
	/* The plot shows the last 64 attempts of a ticker. */
	if (a->n == 64) {
		memmove(a->v, a->v + 1, sizeof a->v[0] * 63);
		a->n--;
	}
	Att *x = &a->v[a->n++];
	x->id = c[0].i;
	x->batch = (int)c[1].i;
	x->started = c[2].num;
	x->ended = c[3].is_null ? 0 : c[3].num;
	snprintf(x->kind, sizeof x->kind, "%s", c[4].is_null ? "running" : c[4].text);
	x->peak = c[5].i;
	snprintf(x->reason, sizeof x->reason, "%s", c[6].text);
	x->budget = c[7].i;
	return 0;
}

/* One row of the tickers table. */
typedef struct TickRow {
	int64_t job_id;
	char ticker[64];
	char state[16];
	int64_t attempts, fit_batch, batch;
	char reason[200];
	int64_t peak;
	double seconds;
	int has_result;
	double ret, bh, sharpe, dd;
	int64_t days, result_id;
	int64_t done_eps, total_eps;
} TickRow;

typedef struct TickRows {
	TickRow *v;
	int n, cap, failed;
} TickRows;

static int tick_cb(void *arg, const StoreValue *c, int n)
{
	TickRows *t = arg;
	(void)n;
	if (t->n == t->cap) {
		int cap = t->cap ? 2 * t->cap : 64;
		TickRow *v = realloc(t->v, sizeof *v * (size_t)cap);
		if (!v) {
			t->failed = 1;
			return -ENOMEM;
		}
		t->v = v;
		t->cap = cap;
	}
	TickRow *r = &t->v[t->n++];
	memset(r, 0, sizeof *r);
	r->job_id = c[0].i;
	snprintf(r->ticker, sizeof r->ticker, "%s", c[1].text);
	snprintf(r->state, sizeof r->state, "%s", c[2].text);
	r->attempts = c[3].i;
	r->fit_batch = c[4].i;
	r->batch = c[5].i;
	snprintf(r->reason, sizeof r->reason, "%s", c[6].text);
	r->peak = c[7].i;
	r->seconds = c[8].num;
	r->has_result = !c[13].is_null;
	r->ret = c[9].num;
	r->bh = c[10].num;
	r->sharpe = c[11].num;
	r->dd = c[12].num;
	r->result_id = c[13].i;
	r->days = c[14].i;
	r->done_eps = c[15].i;
	r->total_eps = c[16].i;
	return 0;
}

#define TICK_SQL \
	"SELECT j.id, j.ticker, j.state, j.attempts, j.fit_batch_size, j.batch_size, j.last_reason," \
	" (SELECT coalesce(max(a.peak_rss), 0) FROM attempts a WHERE a.job_id = j.id)," \
	" (SELECT coalesce(sum(coalesce(a.ended_at, (julianday('now') - 2440587.5) * 86400.0)" \
	"   - a.started_at), 0) FROM attempts a WHERE a.job_id = j.id)," \
	" x.total_return, x.buy_hold_return, x.sharpe, x.max_drawdown, x.id, x.test_days," \
	" j.done_episodes, j.total_episodes" \
	" FROM jobs j LEFT JOIN results x ON x.id = (SELECT max(y.id) FROM results y WHERE y.job_id = j.id)" \
	" ORDER BY j.ticker"

/* Everything of one database the tables need. */
typedef struct Db {
	const char *path;
	Store *s;
	StoreRun *runs;
	int n_runs;
	TickRows ticks;
} Db;

static void db_close(Db *d)
{
	store_runs_free(d->runs, d->n_runs);
	free(d->ticks.v);
	store_close(d->s);
	memset(d, 0, sizeof *d);
}

static int db_load(Db *d, const char *path, char *err, size_t errlen)
{
	memset(d, 0, sizeof *d);
	d->path = path;
	int r = store_open(path, 0, &d->s, err, errlen);
	if (r < 0)
		return r;
	if ((r = store_begin(d->s)) < 0 ||
	    (r = store_runs_list(d->s, 0, &d->runs, &d->n_runs)) < 0 ||
	    (r = store_query(d->s, TICK_SQL, NULL, 0, tick_cb, &d->ticks)) < 0) {
		snprintf(err, errlen, "%s", d->ticks.failed ? "out of memory" :
		         store_errmsg(d->s));
		db_close(d);
		return r;
	}
	return 0;
}

static int64_t db_budget(const Db *d)
{
	return d->n_runs ? (int64_t)d->runs[d->n_runs - 1].budget_rss : 0;
}

/* ---- The page ---- */

static const char CSS[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}"
	"h1{font-size:1.5em}h2{font-size:1.25em;margin-top:1.5em}h3{font-size:1.1em;margin:1.2em 0 .3em}"
	"table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
	"th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}"
	"th{background:#f0f0f0;cursor:pointer}td.l,th.l{text-align:left}"
	"tr.failed td{background:#fde8e8}tr.running td{background:#e8f4fd}"
	".neg{color:#b00}.pos{color:#070}"
	"svg.plot{background:#fafafa;border:1px solid #ddd;margin:2px}"
	"svg .ax{stroke:#888;fill:none}svg .line{fill:none;stroke-width:1.5;stroke-linecap:round}"
	"svg .dashed{stroke-dasharray:5 3}svg .budget{stroke:#d62728;stroke-dasharray:6 3;fill:none}"
	"svg .halve{stroke:#999;stroke-dasharray:2 3;fill:none}svg .kill{stroke:#d62728;stroke-width:2;fill:none}"
	"svg text{font:10px sans-serif;fill:#444}svg .t{font-weight:bold}svg .yl{text-anchor:end}"
	"svg .xl{text-anchor:middle}svg .bl{text-anchor:end;fill:#d62728}svg .hl{fill:#666}"
	"pre{background:#f6f6f6;padding:.5em;max-width:60em;overflow:auto}"
	".empty{color:#888;font-style:italic}.plots{display:flex;flex-wrap:wrap}"
	/* Off-screen tickers are not laid out or painted until scrolled to:
	 * a 500-ticker page opens as fast as a short one. */
	"section{content-visibility:auto;contain-intrinsic-size:auto 640px}";

/* Sorts the tickers table by the clicked column; the page reads the same
 * without it. */
static const char SCRIPT[] =
	"document.querySelectorAll('table.sortable th').forEach(function(th,i){"
	"th.addEventListener('click',function(){"
	"var tb=th.closest('table').tBodies[0],rows=Array.prototype.slice.call(tb.rows);"
	"var dir=th.dataset.dir==='asc'?-1:1;th.dataset.dir=dir>0?'asc':'desc';"
	"rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,"
	"y=b.cells[i].dataset.v||b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);"
	"if(!isNaN(nx)&&!isNaN(ny))return dir*(nx-ny);return dir*x.localeCompare(y);});"
	"rows.forEach(function(r){tb.appendChild(r);});});});";

static void td_num(FILE *out, double v, const char *fmt, int sign_class)
{
	if (!isfinite(v)) {
		fputs("<td data-v=\"-1e308\">-</td>", out);
		return;
	}
	fprintf(out, "<td data-v=\"%.9g\"%s>", v, sign_class ? (v < 0 ? " class=neg" : v > 0 ? " class=pos" : "") : "");
	fprintf(out, fmt, v);
	fputs("</td>", out);
}

static void write_ticker_row(FILE *out, const Db *d, int db_i, int multi, const TickRow *t)
{
	char b[32];
	fprintf(out, "<tr class=%s><td class=l><a href=\"#", t->state);
	html_id(out, "t", db_i, t->ticker);
	fputs("\">", out);
	html_esc(out, t->ticker);
	fputs("</a></td>", out);
	if (multi) {
		fputs("<td class=l>", out);
		html_esc(out, d->path);
		fputs("</td>", out);
	}
	fprintf(out, "<td class=l>%s</td><td>%" PRId64 "</td>", t->state, t->attempts);
	if (t->fit_batch > 0)
		fprintf(out, "<td>%" PRId64 "</td>", t->fit_batch);
	else
		fprintf(out, "<td data-v=\"0\">- (%" PRId64 ")</td>", t->batch);
	td_num(out, t->peak > 0 ? t->peak / 1048576.0 : NAN, "%.1f", 0);
	int64_t budget = db_budget(d);
	td_num(out, budget > 0 && t->peak > 0 ? 100.0 * (double)t->peak / (double)budget : NAN, "%.0f%%", 0);
	fmt_dur(t->seconds, b, sizeof b);
	fprintf(out, "<td data-v=\"%.3f\">%s</td>", t->seconds, b);
	if (t->has_result) {
		td_num(out, 100 * t->ret, "%.2f%%", 1);
		td_num(out, 100 * t->bh, "%.2f%%", 1);
		td_num(out, 100 * (t->ret - t->bh), "%.2f%%", 1);
		td_num(out, t->sharpe, "%.3f", 0);
		td_num(out, 100 * t->dd, "%.2f%%", 0);
		fprintf(out, "<td>%" PRId64 "</td>", t->days);
	} else {
		fputs("<td data-v=\"-1e308\">-</td><td data-v=\"-1e308\">-</td><td data-v=\"-1e308\">-</td>"
		      "<td data-v=\"-1e308\">-</td><td data-v=\"-1e308\">-</td><td data-v=\"0\">-</td>", out);
	}
	fputs("<td class=l>", out);
	html_esc(out, t->reason);
	fputs("</td></tr>\n", out);
}

typedef struct Weights {
	Series s[16];
	int n_models;       /* all of them, even past the 16 plotted */
} Weights;

static int weight_cb(void *arg, const StoreValue *c, int n)
{
	Weights *w = arg;
	int m = (int)c[1].i;
	(void)n;
	if (m + 1 > w->n_models)
		w->n_models = m + 1;
	if (m >= 0 && m < 16) {
		series_push(&w->s[m], c[0].num, c[2].num);
		if (w->s[m].failed)
			return -ENOMEM;
	}
	return 0;
}

/* Equity against buy-and-hold, and the ensemble weights, where the
 * database holds them (results recorded with the frame's curves). */
static int write_result_plots(FILE *out, Db *d, const TickRow *t, int max_points)
{
	Loss3 c;
	Weights w;
	Plot p;
	char lab[16][24];
	int r;

	memset(&c, 0, sizeof c);
	memset(&w, 0, sizeof w);
	r = store_query(d->s, "SELECT day, equity, buy_hold FROM result_curve WHERE result_id = ?1"
	                " ORDER BY day", &t->result_id, 1, loss_cb, &c);
	if (r == 0)
		r = store_query(d->s, "SELECT fit, model, weight FROM result_weights WHERE result_id = ?1"
		                " ORDER BY model, fit", &t->result_id, 1, weight_cb, &w);
	if (r == 0) {
		downsample(&c.loss, max_points, 0);
		downsample(&c.reward, max_points, 0);
		memset(&p, 0, sizeof p);
		p.title = "out-of-sample equity vs buy & hold";
		p.xlabel = "test days";
		p.ylabel = "value";
		p.lines[p.n_lines++] = (Line){ &c.loss, COLORS[0], "ensemble", 0 };
		p.lines[p.n_lines++] = (Line){ &c.reward, COLORS[1], "buy & hold", 1 };
		svg_plot(out, &p);
		memset(&p, 0, sizeof p);
		p.title = w.n_models > 16 ? "ensemble weights (first 16 models)" : "ensemble weights";
		p.xlabel = "refit";
		p.ylabel = "weight";
		for (int m = 0; m < 16 && m < w.n_models; m++) {
			downsample(&w.s[m], max_points, 0);
			snprintf(lab[m], sizeof lab[m], "chunk %d", m);
			p.lines[p.n_lines++] = (Line){ &w.s[m], COLORS[m % N_COLORS], m < 8 ? lab[m] : NULL,
			                               m >= N_COLORS };
		}
		svg_plot(out, &p);
	}
	series_free(&c.loss);
	series_free(&c.reward);
	for (int m = 0; m < 16; m++)
		series_free(&w.s[m]);
	return r;
}

/* The plots of one ticker. */
static int write_ticker_plots(FILE *out, Db *d, int db_i, const TickRow *t, int max_points)
{
	Atts atts;
	Series mem[64];
	Loss3 lr;
	int r;
	char lab[64][48], vl[16][32], bud[48];

	memset(&atts, 0, sizeof atts);
	memset(mem, 0, sizeof mem);
	memset(&lr, 0, sizeof lr);
	r = store_query(d->s,
		"SELECT a.id, a.batch_size, a.started_at, a.ended_at, a.exit_kind, a.peak_rss, a.reason,"
		" coalesce(r.budget_rss, 0) FROM attempts a LEFT JOIN runs r ON r.id = a.run_id"
		" WHERE a.job_id = ?1 ORDER BY a.id", &t->job_id, 1, att_cb, &atts);
	if (r < 0)
		return r;
	fputs("<section id=\"", out);
	html_id(out, "t", db_i, t->ticker);
	fputs("\"><h3>", out);
	html_esc(out, t->ticker);
	fprintf(out, " <small>(%s, %" PRId64 " attempt%s", t->state, t->attempts,
	        t->attempts == 1 ? "" : "s");
	if (atts.total > atts.n)
		fprintf(out, "; the plot shows the last %d", atts.n);
	fputs(")</small></h3><div class=plots>\n", out);

	/* Memory: seconds since the first plotted attempt started. */
	Plot p;
	memset(&p, 0, sizeof p);
	p.title = "memory (private RSS) per attempt";
	p.xlabel = "seconds since the first attempt";
	p.ylabel = "MiB";
	p.y_scale = 1048576.0;
	double t0 = atts.n ? atts.v[0].started : 0;
	int64_t budget = 0;
	for (int a = 0; a < atts.n && r == 0; a++) {
		r = store_query(d->s, "SELECT t, rss FROM mem_samples WHERE attempt_id = ?1 ORDER BY t",
		                &atts.v[a].id, 1, series_cb, &mem[a]);
		for (int k = 0; k < mem[a].n; k++)
			mem[a].x[k] -= t0;
		downsample(&mem[a], max_points, 1);
		if (atts.v[a].budget > budget)
			budget = atts.v[a].budget;
		if (p.n_lines < 16) {
			snprintf(lab[a], sizeof lab[a], "#%d batch %d: %s", a + 1, atts.v[a].batch, atts.v[a].kind);
			p.lines[p.n_lines++] = (Line){ &mem[a], COLORS[a % N_COLORS], lab[a], 0 };
		}
		if (a > 0 && atts.v[a].batch < atts.v[a - 1].batch && p.n_v < 16) {
			snprintf(vl[p.n_v], sizeof vl[p.n_v], "batch %d", atts.v[a].batch);
			p.vlabel[p.n_v] = vl[p.n_v];
			p.vx[p.n_v++] = atts.v[a].started - t0;
		}
		if (!strcmp(atts.v[a].kind, "over-budget") && mem[a].n && p.n_k < 16) {
			p.kx[p.n_k] = mem[a].x[mem[a].n - 1];
			p.ky[p.n_k++] = mem[a].y[mem[a].n - 1];
		}
	}
	if (r == 0) {
		char b[32];
		p.hline = (double)budget;
		snprintf(bud, sizeof bud, "budget.rss %s MiB", fmt_mib((double)budget, b, sizeof b));
		p.hlabel = bud;
		svg_plot(out, &p);
		r = store_query(d->s,
			"SELECT l.done_episodes, l.loss, l.reward FROM loss_samples l"
			" JOIN attempts a ON a.id = l.attempt_id WHERE a.job_id = ?1 ORDER BY l.t",
			&t->job_id, 1, loss_cb, &lr);
	}
	if (r == 0) {
		downsample(&lr.loss, max_points, 0);
		downsample(&lr.reward, max_points, 0);
		memset(&p, 0, sizeof p);
		p.title = "loss per episode";
		p.xlabel = "episodes done";
		p.ylabel = "loss";
		p.lines[p.n_lines++] = (Line){ &lr.loss, COLORS[0], NULL, 0 };
		svg_plot(out, &p);
		memset(&p, 0, sizeof p);
		p.title = "episode reward";
		p.xlabel = "episodes done";
		p.ylabel = "reward";
		p.lines[p.n_lines++] = (Line){ &lr.reward, COLORS[2], NULL, 0 };
		svg_plot(out, &p);
	}
	if (r == 0 && t->has_result)
		r = write_result_plots(out, d, t, max_points);
	fputs("</div></section>\n", out);
	for (int a = 0; a < 64; a++)
		series_free(&mem[a]);
	series_free(&lr.loss);
	series_free(&lr.reward);
	return r;
}

int report_html(const char *const *paths, int n, FILE *out, const ReportOptions *opt,
                char *err, size_t errlen)
{
	ReportOptions defaults = { 0 };
	Db *dbs = calloc((size_t)(n > 0 ? n : 1), sizeof *dbs);
	char b1[64], b2[64];
	int r = 0, n_open = 0, multi = n > 1;

	if (!opt)
		opt = &defaults;
	int max_points = opt->max_points >= 16 ? opt->max_points : DEFAULT_POINTS;
	if (!dbs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (; n_open < n; n_open++)
		if ((r = db_load(&dbs[n_open], paths[n_open], err, errlen)) < 0)
			goto out;

	double now = opt->now > 0 ? opt->now : (double)time(NULL);
	fmt_time(now, b1, sizeof b1);
	fprintf(out, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
	        "<meta name=viewport content=\"width=device-width\">"
	        "<title>tickervisor report</title><style>%s</style></head><body>\n"
	        "<h1>tickervisor report</h1>\n<p>Generated %s from ", CSS, b1);
	for (int i = 0; i < n; i++) {
		fputs(i ? ", <code>" : "<code>", out);
		html_esc(out, paths[i]);
		fputs("</code>", out);
	}
	fprintf(out, ". Long series are downsampled to at most %d points per line: memory keeps "
	        "the maximum of each bucket of consecutive samples (peaks and the sample that crossed "
	        "the budget survive), loss, reward, equity and weights the mean of each bucket. Click a column "
	        "heading to sort.</p>\n", max_points);

	fputs("<h2>Runs</h2>\n<table><thead><tr>", out);
	if (multi)
		fputs("<th class=l>database</th>", out);
	fputs("<th>run</th><th class=l>name</th><th class=l>host</th><th class=l>started</th>"
	      "<th>duration</th><th class=l>outcome</th><th>budget.rss MiB</th><th>budget.vram MiB</th>"
	      "<th class=l>config</th></tr></thead><tbody>\n", out);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < dbs[i].n_runs; k++) {
			const StoreRun *ri = &dbs[i].runs[k];
			fputs("<tr>", out);
			if (multi) {
				fputs("<td class=l>", out);
				html_esc(out, dbs[i].path);
				fputs("</td>", out);
			}
			fmt_time(ri->started_at, b1, sizeof b1);
			fmt_dur(ri->ended_at > 0 ? ri->ended_at - ri->started_at : -1, b2, sizeof b2);
			fprintf(out, "<td>%" PRId64 "</td><td class=l>", ri->id);
			html_esc(out, ri->name);
			fputs("</td><td class=l>", out);
			html_esc(out, ri->host);
			fprintf(out, "</td><td class=l>%s</td><td>%s</td><td class=l>%s</td>", b1, b2,
			        ri->ended_at > 0 ? ri->outcome : "running");
			fprintf(out, "<td>%s</td>", fmt_mib((double)ri->budget_rss, b1, sizeof b1));
			fprintf(out, "<td>%s</td><td class=l><details><summary>INI</summary><pre>",
			        fmt_mib((double)ri->budget_vram, b1, sizeof b1));
			html_esc(out, ri->config);
			fputs("</pre></details></td></tr>\n", out);
		}
	fputs("</tbody></table>\n", out);

	int n_ticks = 0;
	for (int i = 0; i < n; i++)
		n_ticks += dbs[i].ticks.n;
	fprintf(out, "<h2>Tickers (%d)</h2>\n<table class=sortable id=tickers><thead><tr>"
	        "<th class=l>ticker</th>", n_ticks);
	if (multi)
		fputs("<th class=l>database</th>", out);
	fputs("<th class=l>state</th><th>attempts</th><th>batch that fit</th><th>peak RSS MiB</th>"
	      "<th>peak / budget</th><th>time</th><th>return</th><th>buy &amp; hold</th>"
	      "<th>excess</th><th>Sharpe</th><th>max drawdown</th><th>test days</th>"
	      "<th class=l>last reason</th></tr></thead><tbody>\n", out);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < dbs[i].ticks.n; k++)
			write_ticker_row(out, &dbs[i], i, multi, &dbs[i].ticks.v[k]);
	fputs("</tbody></table>\n<p>Return, buy &amp; hold, Sharpe and drawdown are out of sample: "
	      "the test days were never trained on.</p>\n<h2>Per ticker</h2>\n", out);
	for (int i = 0; i < n && r == 0; i++)
		for (int k = 0; k < dbs[i].ticks.n && r == 0; k++)
			if ((r = write_ticker_plots(out, &dbs[i], i, &dbs[i].ticks.v[k], max_points)) < 0)
				snprintf(err, errlen, "%s", store_errmsg(dbs[i].s));
	fprintf(out, "<script>%s</script>\n</body></html>\n", SCRIPT);
	if (r == 0 && ferror(out)) {
		snprintf(err, errlen, "writing the report failed");
		r = -EIO;
	}
out:
	for (int i = 0; i < n_open; i++)
		db_close(&dbs[i]);
	free(dbs);
	return r;
}

/* ---- CSV ---- */

typedef struct CsvCtx {
	FILE *out;
	const char *db;
} CsvCtx;

static int csv_row_cb(void *arg, const StoreValue *c, int n)
{
	CsvCtx *x = arg;
	csv_field(x->out, x->db);
	for (int k = 0; k < n; k++) {
		fputc(',', x->out);
		if (c[k].type == STORE_INT)
			fprintf(x->out, "%" PRId64, c[k].i);
		else if (c[k].type == STORE_REAL)
			fprintf(x->out, "%.17g", c[k].num);
		else if (c[k].type == STORE_TEXT)
			csv_field(x->out, c[k].text);
	}
	fputs("\r\n", x->out);
	return 0;
}

static const struct {
	const char *file, *header, *sql;
} CSV_TABLES[] = {
	{ "runs.csv", "db,run,name,host,started_at,ended_at,outcome,budget_rss,budget_vram",
	  "SELECT id, name, host, started_at, ended_at, outcome, budget_rss, budget_vram FROM runs ORDER BY id" },
	{ "tickers.csv",
	  "db,ticker,state,attempts,fit_batch_size,batch_size,peak_rss,seconds,total_return,"
	  "buy_hold_return,sharpe,max_drawdown,volatility,win_rate,trades,test_days,done_episodes,"
	  "total_episodes,last_reason",
	  "SELECT j.ticker, j.state, j.attempts, j.fit_batch_size, j.batch_size,"
	  " (SELECT coalesce(max(a.peak_rss), 0) FROM attempts a WHERE a.job_id = j.id),"
	  " (SELECT coalesce(sum(coalesce(a.ended_at, (julianday('now') - 2440587.5) * 86400.0)"
	  "   - a.started_at), 0) FROM attempts a WHERE a.job_id = j.id),"
	  " x.total_return, x.buy_hold_return, x.sharpe, x.max_drawdown, x.volatility, x.win_rate,"
	  " x.trades, x.test_days, j.done_episodes, j.total_episodes, j.last_reason"
	  " FROM jobs j LEFT JOIN results x ON x.id = (SELECT max(y.id) FROM results y WHERE y.job_id = j.id)"
	  " ORDER BY j.ticker" },
	{ "attempts.csv",
	  "db,ticker,attempt,run,batch_size,started_at,ended_at,exit_kind,exit_code,term_signal,"
	  "peak_rss,peak_vram,charged,reason",
	  "SELECT j.ticker, a.id, a.run_id, a.batch_size, a.started_at, a.ended_at, a.exit_kind,"
	  " a.exit_code, a.term_signal, a.peak_rss, a.peak_vram, a.charged, a.reason"
	  " FROM attempts a JOIN jobs j ON j.id = a.job_id ORDER BY j.ticker, a.id" },
};

int report_csv(const char *const *paths, int n, const char *dir, char *err, size_t errlen)
{
	Store *st[64];
	int r = 0, n_open = 0;
	char path[4096];

	if (n > 64) {
		snprintf(err, errlen, "at most 64 databases in one report");
		return -EINVAL;
	}
	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return r;
	}
	for (; n_open < n; n_open++)
		if ((r = store_open(paths[n_open], 0, &st[n_open], err, errlen)) < 0)
			goto out;
	for (size_t t = 0; t < sizeof CSV_TABLES / sizeof CSV_TABLES[0] && r == 0; t++) {
		snprintf(path, sizeof path, "%s/%s", dir, CSV_TABLES[t].file);
		FILE *f = fopen(path, "w");
		if (!f) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			break;
		}
		fprintf(f, "%s\r\n", CSV_TABLES[t].header);
		for (int i = 0; i < n && r == 0; i++) {
			CsvCtx x = { f, paths[i] };
			if ((r = store_query(st[i], CSV_TABLES[t].sql, NULL, 0, csv_row_cb, &x)) < 0)
				snprintf(err, errlen, "%s", store_errmsg(st[i]));
		}
		if (fclose(f) != 0 && r == 0) {
			r = -EIO;
			snprintf(err, errlen, "%s: write failed", path);
		}
	}
out:
	for (int i = 0; i < n_open; i++)
		store_close(st[i]);
	return r;
}

/* ---- The command ---- */

static void usage(FILE *f)
{
	fputs("usage: tickervisor report DB ... -o FILE.html [--csv DIR] [--max-points N]\n"
	      "  One self-contained HTML page (no network, no external library) over the\n"
	      "  databases: runs and config, every ticker, and per ticker memory against the\n"
	      "  budget, loss and reward per episode. Several shard databases make one report.\n"
	      "  -o, --output FILE   the HTML file (written to FILE.tmp, then renamed)\n"
	      "  --csv DIR           also DIR/runs.csv, DIR/tickers.csv, DIR/attempts.csv\n"
	      "  --max-points N      points per plotted line (default 300, at least 16)\n"
	      "  -h, --help          this help;  -V, --version  the version\n", f);
}

int report_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "csv", required_argument, NULL, 'c' },
		{ "max-points", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL, *csv_dir = NULL;
	ReportOptions opt = { 0 };
	char err[STORE_ERR_MAX + 256], *end;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:hV", longs, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'c': csv_dir = optarg; break;
		case 'm': {
			long v = strtol(optarg, &end, 10);
			if (*end || v < 16 || v > 1000000) {
				fprintf(stderr, "tickervisor report: --max-points '%s': not an integer in [16, 1000000]\n",
				        optarg);
				return 64;
			}
			opt.max_points = (int)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		case 'V': printf("tickervisor %s\n", TV_VERSION); return 0;
		default:
			fprintf(stderr, "tickervisor report: option '%s' is unknown or needs a value\n",
			        argv[optind - 1]);
			usage(stderr);
			return 64;
		}
	}
	if (optind >= argc || (!output && !csv_dir)) {
		fputs(optind >= argc ? "tickervisor report: no database given\n" :
		      "tickervisor report: no output: give -o FILE.html and/or --csv DIR\n", stderr);
		usage(stderr);
		return 64;
	}
	const char *const *paths = (const char *const *)argv + optind;
	int n = argc - optind;
	if (output) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", output);
		FILE *f = fopen(tmp, "w");
		if (!f) {
			fprintf(stderr, "tickervisor report: %s: %s\n", tmp, strerror(errno));
			return 1;
		}
		int r = report_html(paths, n, f, &opt, err, sizeof err);
		if (fclose(f) != 0 && r == 0) {
			snprintf(err, sizeof err, "%s: write failed", tmp);
			r = -EIO;
		}
		if (r == 0 && rename(tmp, output) < 0) {
			snprintf(err, sizeof err, "%s: %s", output, strerror(errno));
			r = -errno;
		}
		if (r < 0) {
			unlink(tmp);
			fprintf(stderr, "tickervisor report: %s\n", err);
			return 1;
		}
	}
	if (csv_dir && report_csv(paths, n, csv_dir, err, sizeof err) < 0) {
		fprintf(stderr, "tickervisor report: %s\n", err);
		return 1;
	}
	return 0;
}
