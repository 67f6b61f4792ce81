/* The run's timings and the end-of-run summary (run.h). */
#include "k3sforge/run.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

#define MAX_STEPS 64

struct step {
	char *name;
	double start, elapsed;
	int rc;
	bool open, skipped;
	char *why;
};

struct kf_run {
	struct step steps[MAX_STEPS];
	int n;
	double start;
};

int kf_run_new(struct kf_run **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return KF_ENOMEM;
	(*out)->start = kf_now_mono();
	return 0;
}

void kf_run_free(struct kf_run *run)
{
	if (!run)
		return;
	for (int i = 0; i < run->n; i++) {
		free(run->steps[i].name);
		free(run->steps[i].why);
	}
	free(run);
}

static struct step *find_open(struct kf_run *run, const char *name)
{
	for (int i = run->n - 1; i >= 0; i--)
		if (run->steps[i].open && strcmp(run->steps[i].name, name) == 0)
			return &run->steps[i];
	return NULL;
}

static char *event_json(const char *name, const char *status, double elapsed, int rc,
			const char *reason)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "stage", json_string(name));
	if (status)
		json_object_set_new(o, "status", json_string(status));
	if (elapsed >= 0)
		json_object_set_new(o, "seconds", json_real((double)((long long)(elapsed * 1000)) / 1000));
	if (rc)
		json_object_set_new(o, "code", json_string(kf_err_name(rc)));
	if (reason)
		json_object_set_new(o, "reason", kf_json_text(reason));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

void kf_stage_begin(struct kf_run *run, const char *name)
{
	char *ev;

	if (run && run->n < MAX_STEPS) {
		struct step *s = &run->steps[run->n++];
		memset(s, 0, sizeof(*s));
		s->name = strdup(name);
		s->start = kf_now_mono();
		s->open = true;
	}
	kf_info("start: %s", name);
	ev = event_json(name, NULL, -1, 0, NULL);
	kf_log_event("stage_start", ev);
	free(ev);
}

double kf_stage_end(struct kf_run *run, const char *name, int rc, const char *reason)
{
	struct step *s = run ? find_open(run, name) : NULL;
	double elapsed = 0;
	char *ev;

	if (s) {
		elapsed = kf_now_mono() - s->start;
		s->elapsed = elapsed;
		s->rc = rc;
		s->open = false;
	}
	if (rc == 0)
		kf_ok("done: %s (took %.1fs)", name, elapsed);
	else
		kf_error("failed: %s after %.1fs: %s", name, elapsed, reason ? reason : kf_err_name(rc));
	ev = event_json(name, rc == 0 ? "done" : "failed", elapsed, rc, rc ? reason : NULL);
	kf_log_event("stage_end", ev);
	free(ev);
	return elapsed;
}

void kf_stage_skip(struct kf_run *run, const char *name, const char *why)
{
	char *ev;

	if (run && run->n < MAX_STEPS) {
		struct step *s = &run->steps[run->n++];
		memset(s, 0, sizeof(*s));
		s->name = strdup(name);
		s->skipped = true;
		s->why = why ? strdup(why) : NULL;
	}
	kf_info("skip: %s (%s)", name, why ? why : "up to date");
	ev = event_json(name, "skipped", 0, 0, why);
	kf_log_event("stage_end", ev);
	free(ev);
}

int kf_run_count(const struct kf_run *run)
{
	return run ? run->n : 0;
}

void kf_run_summary(const struct kf_run *run)
{
	double total = 0;
	bool text = !kf_log_json();
	json_t *arr;
	char *ev;

	if (!run || run->n == 0)
		return;
	for (int i = 0; i < run->n; i++)
		total += run->steps[i].elapsed;
	/* Ordinary INFO lines, so the table carries timestamps like every other line. */
	if (text) {
		kf_info("stage summary:");
		kf_info("  %-20s %10s %8s  %s", "stage", "time", "share", "result");
	}
	arr = json_array();
	for (int i = 0; i < run->n; i++) {
		const struct step *s = &run->steps[i];
		const char *result = s->skipped ? "skipped (up to date)"
				     : s->open ? "interrupted"
				     : s->rc ? "FAILED" : "ok";
		double share = total > 0 ? 100.0 * s->elapsed / total : 0;
		json_t *o = json_object();
		if (text)
			kf_info("  %-20s %9.1fs %7.1f%%  %s", s->name, s->elapsed, share, result);
		json_object_set_new(o, "stage", json_string(s->name));
		json_object_set_new(o, "seconds", json_real((double)((long long)(s->elapsed * 1000)) / 1000));
		json_object_set_new(o, "share", json_real((double)((long long)(share * 10)) / 10));
		json_object_set_new(o, "result", json_string(s->skipped ? "skipped" : s->open ? "interrupted" : s->rc ? "failed" : "ok"));
		json_array_append_new(arr, o);
	}
	if (text)
		kf_info("  %-20s %9.1fs %7.1f%%", "total", total, total > 0 ? 100.0 : 0.0);
	{
		json_t *o = json_object();
		json_object_set_new(o, "stages", arr);
		json_object_set_new(o, "total_seconds", json_real((double)((long long)(total * 1000)) / 1000));
		ev = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
	}
	kf_log_event("summary", ev);
	free(ev);
}
