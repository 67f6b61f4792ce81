/* The stage engine (stage.h): freshness against <out>/state.json, where `up` resumes, and one
 * stage run with its outcome recorded. */
#include "k3sforge/stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/lab.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/state.h"

char *kf_lab_path(const struct kf_lab *lab, const char *rel)
{
	return kf_path_join(lab->out_dir, rel);
}

int kf_stage_fresh(struct kf_lab *lab, const struct kf_stage_def *stage, const struct kf_state *st,
		   char hex[KF_SHA256_HEX_LEN + 1], char *why, size_t whylen, struct kf_err *err)
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
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	kf_fp_str(fp, "stage", stage->name);
	if (stage->fingerprint && (r = stage->fingerprint(lab, fp, err)) != 0) {
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
	if (stage->check && stage->check(lab, &cerr) != 0) {
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

int kf_stage_resume_point(struct kf_lab *lab, const struct kf_stage_def *const *stages, int n,
			  int from, bool force, int *first, char *why, size_t whylen,
			  struct kf_err *err)
{
	struct kf_state *st = NULL;
	bool fresh[KF_STAGE_MAX];
	int r;

	if (whylen)
		why[0] = '\0';
	*first = 0;
	if (n > KF_STAGE_MAX)
		return kf_err_set(err, KF_ELIMIT, "too many stages (%d, at most %d)", n,
				  KF_STAGE_MAX);
	if (force)
		return 0;
	if ((r = kf_state_load(&st, lab->out_dir, err)) != 0)
		return r;
	for (int i = 0; i < n; i++)
		fresh[i] = false;
	/* Only up to the first stale stage: everything after it runs anyway, and its inputs may be
	 * outputs of earlier stages that have not run yet. */
	for (int i = 0; i < n && (from < 0 || i < from); i++) {
		char hex[KF_SHA256_HEX_LEN + 1];
		struct kf_err ferr;
		kf_err_clear(&ferr);
		r = kf_stage_fresh(lab, stages[i], st, hex, why, whylen, &ferr);
		if (r < 0) /* not fatal here: running the stage reports it properly */
			snprintf(why, whylen, "its inputs cannot be fingerprinted (%.400s)", ferr.msg);
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

int kf_stage_execute(struct kf_lab *lab, const struct kf_stage_def *stage, bool force,
		     bool *skipped, struct kf_err *err)
{
	struct kf_state *st = NULL;
	char hex[KF_SHA256_HEX_LEN + 1] = "";
	char why[KF_ERR_MSG_MAX + 64];
	double start, end;
	int r;

	if (skipped)
		*skipped = false;
	if ((r = kf_state_load(&st, lab->out_dir, err)) != 0)
		return r;
	r = kf_stage_fresh(lab, stage, st, hex, why, sizeof(why), err);
	if (r < 0)
		goto out;
	if (r == 1 && !force) {
		kf_stage_skip(lab->run, stage->name, "inputs unchanged since its last run");
		if (skipped)
			*skipped = true;
		r = 0;
		goto out;
	}
	if (!force)
		kf_info("%s: %s; running it", stage->name, why);
	if (stage->confirm) {
		kf_err_clear(err);
		if ((r = stage->confirm(lab, err)) != 0) {
			kf_stage_begin(lab->run, stage->name);
			kf_stage_end(lab->run, stage->name, r, err->msg);
			goto out;
		}
	}

	start = kf_now_wall();
	kf_state_set(st, stage->name, "running", start, start, NULL, NULL);
	if ((r = kf_state_save(st, err)) != 0)
		goto out;
	kf_stage_begin(lab->run, stage->name);
	kf_err_clear(err);
	r = stage->run(lab, err);
	if (r == 0 && kf_interrupted())
		r = kf_err_set(err, KF_EINTR, "interrupted");
	kf_stage_end(lab->run, stage->name, r, r ? err->msg : NULL);
	end = kf_now_wall();
	{
		/* The stage may have saved its own data (kf_state_data) while it ran: reload so
		 * recording the outcome keeps it. */
		struct kf_state *fresh = NULL;
		struct kf_err lerr;
		kf_err_clear(&lerr);
		if (kf_state_load(&fresh, lab->out_dir, &lerr) == 0) {
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
		if (kf_state_load(&now, lab->out_dir, &serr) == 0) {
			kf_state_free(st);
			st = now;
		}
		kf_err_clear(&serr);
		kf_state_set(st, stage->name, r == 0 ? "done" : (r == KF_EINTR ? "interrupted" : "failed"),
			     start, end, r == 0 ? hex : NULL, r ? err->msg : NULL);
		if (kf_state_save(st, &serr) != 0 && r == 0) {
			*err = serr;
			r = serr.code;
		}
	}
out:
	kf_state_free(st);
	return r;
}
