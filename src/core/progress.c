/* Progress of long work: a live line on a terminal, events with --json. */
#include "k3sforge/progress.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Only one live line at a time; the logger clears it before printing. */
static int live_drawn;

static void clear_live(FILE *out)
{
	if (live_drawn) {
		fputs("\r\033[K", out);
		live_drawn = 0;
	}
}

static void human_bytes(uint64_t n, char *out, size_t len)
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
	p->live = !kf_log_json() && kf_log_level() <= KF_LOG_INFO &&
		  kf_platform_isatty(fileno(kf_log_text_stream()));
	if (p->live) {
		/* Under the log lock: another thread may be logging (and calling it) right now. */
		kf_log_lock();
		kf_log_set_live_clear(clear_live);
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
	human_bytes(p->done_bytes, done, sizeof(done));
	human_bytes(p->total_bytes, total, sizeof(total));
	human_bytes((uint64_t)rate, rs, sizeof(rs));
	if (kf_log_json()) {
		json_t *o = json_object();
		char *s;
		json_object_set_new(o, "what", json_string(p->what));
		json_object_set_new(o, "bytes", json_integer((json_int_t)p->done_bytes));
		json_object_set_new(o, "total_bytes", json_integer((json_int_t)p->total_bytes));
		if (p->total_items) {
			json_object_set_new(o, "items", json_integer(p->done_items));
			json_object_set_new(o, "total_items", json_integer(p->total_items));
		}
		json_object_set_new(o, "rate_bps", json_integer((json_int_t)rate));
		json_object_set_new(o, "final", json_boolean(final));
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
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
		char eta[32] = "";
		int pct = p->total_bytes ? (int)(100.0 * (double)p->done_bytes / (double)p->total_bytes) : -1;
		if (p->total_bytes && rate > 0 && p->done_bytes < p->total_bytes)
			snprintf(eta, sizeof(eta), " ETA %.0fs",
				 (double)(p->total_bytes - p->done_bytes) / rate);
		fputs("\r\033[K", out);
		if (p->total_items)
			fprintf(out, "%s: %d/%d, ", p->what, p->done_items, p->total_items);
		else
			fprintf(out, "%s: ", p->what);
		if (pct >= 0)
			fprintf(out, "%s / %s (%d%%), %s/s%s", done, total, pct, rs, eta);
		else
			fprintf(out, "%s, %s/s", done, rs);
		fflush(out);
		live_drawn = 1;
		if (final)
			clear_live(out);
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
		kf_log_set_live_clear(NULL);
		kf_log_unlock();
	}
	pthread_mutex_destroy(&p->mu);
	free(p->what);
	free(p);
}
