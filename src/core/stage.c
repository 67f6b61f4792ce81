/* Stage timing, the end-of-run summary, and resumable stage execution against state.json. */
#include "k3sforge/stage.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/state.h"

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

int kf_stage_fresh(struct kf_ctx *ctx, const struct kf_stage_def *stage, const struct kf_state *st,
		   char hex[KF_SHA256_HEX_LEN + 1], char *why, size_t whylen)
{
	struct kf_state_rec rec;
	struct kf_fp *fp;
	struct kf_err cerr;
	int r;

	hex[0] = '\0';
	if (whylen)
		why[0] = '\0';
	fp = kf_fp_new();
	if (!fp)
		return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	kf_fp_str(fp, "stage", stage->name);
	if (stage->fingerprint && (r = stage->fingerprint(ctx, fp, &ctx->err)) != 0) {
		kf_fp_free(fp);
		return r < 0 ? r : KF_EFAIL;
	}
	kf_fp_final(fp, hex);

	if (!st || !kf_state_get(st, stage->name, &rec)) {
		snprintf(why, whylen, "it never ran here");
		return 0;
	}
	if (strcmp(rec.status, "done") != 0) {
		snprintf(why, whylen, "its last run ended '%s'%s%s", rec.status,
			 rec.error ? ": " : "", rec.error ? rec.error : "");
		return 0;
	}
	if (!rec.fingerprint || strcmp(rec.fingerprint, hex) != 0) {
		snprintf(why, whylen, "its inputs changed since its last run");
		return 0;
	}
	for (const char *const *a = stage->after; a && *a; a++) {
		struct kf_state_rec dep;
		/* any run since, a failed one too: a create-vms that failed half-way may have
		 * replaced some VMs already */
		if (kf_state_get(st, *a, &dep) && dep.end > rec.end) {
			snprintf(why, whylen, "%s ran again since its last run", *a);
			return 0;
		}
	}
	kf_err_clear(&cerr);
	if (stage->check && stage->check(ctx, &cerr) != 0) {
		snprintf(why, whylen, "its outputs are no longer in place (%s)",
			 cerr.msg[0] ? cerr.msg : "check failed");
		return 0;
	}
	return 1;
}

int kf_stage_first_to_run(const bool *fresh, int n, int from, bool force)
{
	if (force)
		return 0;
	for (int i = 0; i < n; i++) {
		if (from >= 0 && i >= from)
			return i;
		if (!fresh[i])
			return i;
	}
	return n;
}

int kf_stage_resume_point(struct kf_ctx *ctx, const struct kf_stage_def *const *stages, int n,
			  int from, bool force, int *first, char *why, size_t whylen)
{
	struct kf_state *st = NULL;
	bool fresh[KF_STAGE_MAX];
	int r;

	if (whylen)
		why[0] = '\0';
	*first = 0;
	if (n > KF_STAGE_MAX)
		return kf_err_set(&ctx->err, KF_ELIMIT, "too many stages (%d, at most %d)", n,
				  KF_STAGE_MAX);
	if (force)
		return 0;
	if ((r = kf_state_load(&st, ctx->out_dir, &ctx->err)) != 0)
		return r;
	for (int i = 0; i < n; i++)
		fresh[i] = false;
	/* Only up to the first stale stage: everything after it runs anyway, and its inputs may be
	 * outputs of earlier stages that have not run yet. */
	for (int i = 0; i < n && (from < 0 || i < from); i++) {
		char hex[KF_SHA256_HEX_LEN + 1];
		r = kf_stage_fresh(ctx, stages[i], st, hex, why, whylen);
		if (r < 0) {
			/* Not fatal here: running the stage reports it properly. */
			snprintf(why, whylen, "its inputs cannot be fingerprinted (%.400s)",
				 ctx->err.msg);
			kf_err_clear(&ctx->err);
		}
		fresh[i] = r == 1;
		if (!fresh[i])
			break;
	}
	kf_state_free(st);
	/* why now holds the reason of the stale stage the loop stopped at, or is empty when it
	 * stopped at `from` or found every stage fresh (kf_stage_fresh clears it for fresh ones). */
	*first = kf_stage_first_to_run(fresh, n, from, false);
	return 0;
}

int kf_stage_execute(struct kf_ctx *ctx, const struct kf_stage_def *stage, bool force,
		     bool *skipped)
{
	struct kf_state *st = NULL;
	char hex[KF_SHA256_HEX_LEN + 1] = "";
	char why[KF_ERR_MSG_MAX + 64];
	double start, end;
	int r;

	if (skipped)
		*skipped = false;
	if ((r = kf_ctx_lock(ctx)) != 0)
		return r;
	if ((r = kf_state_load(&st, ctx->out_dir, &ctx->err)) != 0)
		return r;
	r = kf_stage_fresh(ctx, stage, st, hex, why, sizeof(why));
	if (r < 0)
		goto out;
	if (r == 1 && !force) {
		kf_stage_skip(ctx->run, stage->name, "inputs unchanged since its last run");
		if (skipped)
			*skipped = true;
		r = 0;
		goto out;
	}
	if (!force)
		kf_info("%s: %s; running it", stage->name, why);
	if (stage->confirm) {
		kf_err_clear(&ctx->err);
		if ((r = stage->confirm(ctx, &ctx->err)) != 0) {
			kf_stage_begin(ctx->run, stage->name);
			kf_stage_end(ctx->run, stage->name, r, ctx->err.msg);
			goto out;
		}
	}

	start = kf_now_wall();
	kf_state_set(st, stage->name, "running", start, start, NULL, NULL);
	if ((r = kf_state_save(st, &ctx->err)) != 0)
		goto out;
	kf_stage_begin(ctx->run, stage->name);
	kf_err_clear(&ctx->err);
	r = stage->run(ctx, &ctx->err);
	if (r == 0 && kf_interrupted())
		r = kf_err_set(&ctx->err, KF_EINTR, "interrupted");
	kf_stage_end(ctx->run, stage->name, r, r ? ctx->err.msg : NULL);
	end = kf_now_wall();
	{
		/* The stage may have saved its own data (kf_state_data) while it ran: reload so
		 * recording the outcome keeps it. */
		struct kf_state *fresh = NULL;
		struct kf_err lerr;
		kf_err_clear(&lerr);
		if (kf_state_load(&fresh, ctx->out_dir, &lerr) == 0) {
			kf_state_free(st);
			st = fresh;
		}
	}
	{
		/* Saving must not clobber the stage's error; keep it in a local. */
		struct kf_err serr;
		struct kf_state *now = NULL;
		kf_err_clear(&serr);
		/* The stage may have saved its own data (kf_state_data) meanwhile: record the
		 * outcome on top of what is on disk now, not on the copy loaded before it ran. */
		if (kf_state_load(&now, ctx->out_dir, &serr) == 0) {
			kf_state_free(st);
			st = now;
		}
		kf_err_clear(&serr);
		kf_state_set(st, stage->name, r == 0 ? "done" : (r == KF_EINTR ? "interrupted" : "failed"),
			     start, end, r == 0 ? hex : NULL, r ? ctx->err.msg : NULL);
		if (kf_state_save(st, &serr) != 0 && r == 0) {
			ctx->err = serr;
			r = serr.code;
		}
	}
out:
	kf_state_free(st);
	return r;
}
