/* Progress of long work: a live line on a terminal, events with --json. The live line is cut to
 * the terminal's width (a wrapped line cannot be rewritten by \r and smears down the screen),
 * drawn again after every log line, and a wait's node_phase events become one line of phases. */
#include "k3sforge/progress.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "k3sforge/log.h"
#include "k3sforge/platform.h"

struct kf_progress {
	pthread_mutex_t mu;
	char *what;
	uint64_t total_bytes, done_bytes;
	int total_items, done_items;
	double start, last_draw;
	bool live;  /* drawing a live line on a terminal */
};

/* The one live line (a progress bar or the node line), under the log lock: the logger clears it
 * before a line and draws it again after. */
static int live_drawn;
static char live_text[1024];

#define MAX_NODES 64
static struct {
	atomic_bool on;
	pthread_t ticker;     /* redraws the line each second: the elapsed time moves */
	bool ticking;
	size_t n;
	double start;
	char name[MAX_NODES][64];
	char state[MAX_NODES][96];
} N;

static void clear_live(FILE *out)
{
	if (live_drawn) {
		fputs("\r\033[K", out);
		live_drawn = 0;
	}
}

/* Caller holds the log lock. */
static void draw_live(FILE *out)
{
	if (!live_text[0])
		return;
	fputs("\r\033[K", out);
	fputs(live_text, out);
	fflush(out);
	live_drawn = 1;
}

/* Caller holds the log lock: makes text the live line and draws it. */
static void set_live(FILE *out, const char *text)
{
	snprintf(live_text, sizeof(live_text), "%s", text);
	kf_progress_fit(live_text, kf_progress_term_cols(fileno(out)));
	draw_live(out);
}

/* Caller holds the log lock. */
static void end_live(FILE *out)
{
	clear_live(out);
	fflush(out);
	live_text[0] = '\0';
	kf_log_set_live_clear(NULL);
	kf_log_set_live_redraw(NULL);
}

int kf_progress_term_cols(int fd)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (env && atoi(env) > 0 && atoi(env) < 10000)
		return atoi(env);
	return 80;
}

void kf_progress_fit(char *s, int cols)
{
	int seen = 0;
	unsigned char *p = (unsigned char *)s;

	if (cols < 2)
		cols = 2;
	for (; *p; p++) {
		if ((*p & 0xc0) == 0x80)
			continue; /* a continuation byte belongs to the character before */
		if (seen == cols - 1) {
			*p = '\0';
			return;
		}
		seen++;
	}
}

void kf_progress_duration(double seconds, char *out, size_t n)
{
	long s = seconds < 0 ? 0 : (long)(seconds + 0.5);

	if (s < 60)
		snprintf(out, n, "%lds", s);
	else if (s < 3600)
		snprintf(out, n, "%ldm%02lds", s / 60, s % 60);
	else
		snprintf(out, n, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
}

static bool terminal_sink(void)
{
	return !kf_log_json() && kf_log_level() <= KF_LOG_INFO &&
	       kf_platform_isatty(fileno(kf_log_text_stream()));
}

struct kf_progress *kf_progress_new(const char *what, uint64_t total_bytes, int total_items)
{
	struct kf_progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	p->what = strdup(what);
	p->total_bytes = total_bytes;
	p->total_items = total_items;
	p->start = kf_now_mono();
	p->live = terminal_sink();
	if (p->live) {
		/* Under the log lock: another thread may be logging (and calling it) right now. */
		kf_log_lock();
		kf_log_set_live_clear(clear_live);
		kf_log_set_live_redraw(draw_live);
		kf_log_unlock();
	}
	return p;
}

static void render(struct kf_progress *p, bool final)
{
	double now = kf_now_mono();
	double el = now - p->start;
	double rate = el > 0 ? (double)p->done_bytes / el : 0;
	char done[32], total[32], rs[32];

	if (!final && now - p->last_draw < (p->live ? 0.2 : 1.0))
		return;
	p->last_draw = now;
	kf_size_format(p->done_bytes, done, sizeof(done));
	kf_size_format(p->total_bytes, total, sizeof(total));
	kf_size_format((uint64_t)rate, rs, sizeof(rs));
	if (kf_log_json()) {
		json_t *o = json_object();
		char *s;
		json_object_set_new(o, "what", kf_json_text(p->what ? p->what : ""));
		json_object_set_new(o, "bytes", json_integer((json_int_t)p->done_bytes));
		json_object_set_new(o, "total_bytes", json_integer((json_int_t)p->total_bytes));
		if (p->total_items) {
			json_object_set_new(o, "items", json_integer(p->done_items));
			json_object_set_new(o, "total_items", json_integer(p->total_items));
		}
		json_object_set_new(o, "rate_bps", json_integer((json_int_t)rate));
		json_object_set_new(o, "final", json_boolean(final));
		s = kf_json_dumps(o);
		kf_log_event("progress", s);
		free(s);
		json_decref(o);
		return;
	}
	if (!p->live)
		return;
	kf_log_lock();
	{
		FILE *out = kf_log_text_stream();
		char eta[48] = "", line[sizeof(live_text)];
		int pct = p->total_bytes ? (int)(100.0 * (double)p->done_bytes / (double)p->total_bytes) : -1;
		int k = 0;
		if (p->total_bytes && rate > 0 && p->done_bytes < p->total_bytes) {
			char d[32];
			kf_progress_duration((double)(p->total_bytes - p->done_bytes) / rate, d, sizeof(d));
			snprintf(eta, sizeof(eta), " ETA %s", d);
		}
		if (p->total_items)
			k = snprintf(line, sizeof(line), "%s: %d/%d, ", p->what, p->done_items,
				     p->total_items);
		else
			k = snprintf(line, sizeof(line), "%s: ", p->what);
		if (k < 0 || (size_t)k >= sizeof(line))
			k = (int)sizeof(line) - 1;
		if (pct >= 0)
			snprintf(line + k, sizeof(line) - (size_t)k, "%s / %s (%d%%), %s/s%s", done,
				 total, pct, rs, eta);
		else
			snprintf(line + k, sizeof(line) - (size_t)k, "%s, %s/s", done, rs);
		set_live(out, line);
		if (final)
			end_live(out);
	}
	kf_log_unlock();
}

void kf_progress_update(struct kf_progress *p, uint64_t done_bytes, int done_items)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->done_bytes = done_bytes;
	p->done_items = done_items;
	render(p, false);
	pthread_mutex_unlock(&p->mu);
}

void kf_progress_add(struct kf_progress *p, uint64_t bytes, int items)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->done_bytes += bytes;
	p->done_items += items;
	render(p, false);
	pthread_mutex_unlock(&p->mu);
}

void kf_progress_set_total(struct kf_progress *p, uint64_t total_bytes, int total_items)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->total_bytes = total_bytes;
	p->total_items = total_items;
	pthread_mutex_unlock(&p->mu);
}

void kf_progress_done(struct kf_progress *p, int ok)
{
	(void)ok;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	render(p, true);
	pthread_mutex_unlock(&p->mu);
	if (p->live) {
		kf_log_lock();
		end_live(kf_log_text_stream());
		kf_log_unlock();
	}
	pthread_mutex_destroy(&p->mu);
	free(p->what);
	free(p);
}

/* ---------------------------------------------------------------- the node line */

/* What a node_phase event says, in a few words. */
static void phase_words(const json_t *f, char *out, size_t n)
{
	const char *phase = json_string_value(json_object_get(f, "phase"));
	const char *prog = json_string_value(json_object_get(f, "progress"));
	const char *last = prog ? strrchr(prog, ' ') : NULL;

	if (!phase)
		phase = "?";
	last = last ? last + 1 : prog;
	if (json_is_true(json_object_get(f, "failed")))
		snprintf(out, n, "failed ✗%s%s", last ? " after " : "", last ? last : "");
	else if (strcmp(phase, "done") == 0)
		snprintf(out, n, "ready ✓");
	else if (strcmp(phase, "ssh-authenticated") == 0)
		snprintf(out, n, "ssh ✓%s%s", last ? " marker " : " no marker yet",
			 last ? last : "");
	else if (strcmp(phase, "ssh-port-open") == 0)
		snprintf(out, n, "ssh port open");
	else if (strcmp(phase, "ip-assigned") == 0)
		snprintf(out, n, "ip ✓");
	else if (strcmp(phase, "tools-running") == 0)
		snprintf(out, n, "tools up");
	else if (strcmp(phase, "powered-on") == 0)
		snprintf(out, n, "booting");
	else
		snprintf(out, n, "%s", phase);
}

/* Caller holds the log lock. */
static void draw_nodes(FILE *out)
{
	char line[sizeof(live_text)], d[32];
	size_t k = 0;

	for (size_t i = 0; i < N.n && k < sizeof(line); i++) {
		int w = snprintf(line + k, sizeof(line) - k, "%s%s: %s", i ? "  " : "", N.name[i],
				 N.state[i]);
		if (w < 0)
			break;
		k += (size_t)w;
	}
	if (k < sizeof(line)) {
		kf_progress_duration(kf_now_mono() - N.start, d, sizeof(d));
		snprintf(line + k, sizeof(line) - k, "  (%s)", d);
	}
	set_live(out, line);
}

static void node_event(const char *type, const json_t *fields)
{
	const char *node;

	if (!atomic_load(&N.on) || strcmp(type, "node_phase") != 0 || !fields)
		return;
	node = json_string_value(json_object_get(fields, "node"));
	if (!node)
		return;
	kf_log_lock();
	for (size_t i = 0; i < N.n; i++) {
		if (strcmp(N.name[i], node) == 0) {
			phase_words(fields, N.state[i], sizeof(N.state[i]));
			draw_nodes(kf_log_text_stream());
			break;
		}
	}
	kf_log_unlock();
}

static void *tick(void *arg)
{
	(void)arg;
	while (atomic_load(&N.on)) {
		for (int i = 0; i < 10 && atomic_load(&N.on); i++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		kf_log_lock();
		if (atomic_load(&N.on))
			draw_nodes(kf_log_text_stream());
		kf_log_unlock();
	}
	return NULL;
}

bool kf_progress_nodes_begin(const char *const *names, size_t n)
{
	if (!terminal_sink() || n == 0)
		return false;
	kf_log_lock();
	N.n = n > MAX_NODES ? MAX_NODES : n;
	N.start = kf_now_mono();
	for (size_t i = 0; i < N.n; i++) {
		snprintf(N.name[i], sizeof(N.name[i]), "%s", names[i]);
		snprintf(N.state[i], sizeof(N.state[i]), "waiting");
	}
	kf_log_set_live_clear(clear_live);
	kf_log_set_live_redraw(draw_live);
	draw_nodes(kf_log_text_stream());
	atomic_store(&N.on, true);
	kf_log_unlock();
	kf_log_set_event_hook(node_event);
	N.ticking = pthread_create(&N.ticker, NULL, tick, NULL) == 0;
	return true;
}

void kf_progress_nodes_end(void)
{
	if (!atomic_load(&N.on))
		return;
	kf_log_set_event_hook(NULL);
	atomic_store(&N.on, false);
	if (N.ticking)
		pthread_join(N.ticker, NULL);
	N.ticking = false;
	kf_log_lock();
	end_live(kf_log_text_stream());
	kf_log_unlock();
}

bool kf_progress_nodes_live(void)
{
	return atomic_load(&N.on);
}

void kf_size_format(uint64_t n, char *out, size_t len)
{
	const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}
