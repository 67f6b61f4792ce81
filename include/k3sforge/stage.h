/* Stages: the resumable unit of `up`. A stage says what its result depends on (fingerprint),
 * whether its outputs are still in place (check) and how to make them (run); the engine here
 * (src/lab/stage.c) skips a stage whose record in <out>/state.json is "done" with the same
 * fingerprint, runs it otherwise and records the outcome. */
#ifndef K3SFORGE_STAGE_H
#define K3SFORGE_STAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/digest.h"
#include "k3sforge/err.h"
#include "k3sforge/run.h"

struct kf_lab;
struct kf_state;

/* A stage of `up` (lab.h lists them). */
struct kf_stage_def {
	const char *name;
	/* Adds everything the stage's result depends on (config subset, input files). */
	int (*fingerprint)(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err);
	/* Optional: are the stage's outputs still in place (registry still running, files present)?
	 * 0 = yes; otherwise the stage is stale even with a matching fingerprint. */
	int (*check)(struct kf_lab *lab, struct kf_err *err);
	/* Does the work. */
	int (*run)(struct kf_lab *lab, struct kf_err *err);
	/* Optional, NULL-terminated: stages whose every new run makes this one stale, for what a
	 * fingerprint cannot see (VMs made again from the same inputs are new machines). */
	const char *const *after;
	/* Optional: asked once the stage is due to run, before anything is recorded; an error
	 * stops the run and leaves the stage's earlier record as it was (a refused confirmation
	 * changed nothing). */
	int (*confirm)(struct kf_lab *lab, struct kf_err *err);
};

/* Runs one stage with state bookkeeping: skips it when its record is "done" with the same
 * fingerprint and its check passes (unless force), else runs it and records the outcome.
 * *skipped (may be NULL) tells which happened. The caller holds the output directory's lock. */
int kf_stage_execute(struct kf_lab *lab, const struct kf_stage_def *stage, bool force,
		     bool *skipped, struct kf_err *err);
/* Is the stage up to date against st (may be NULL: nothing recorded)? Its record says "done"
 * with the same input fingerprint and its check passes. Returns 1 fresh, 0 stale (why says why,
 * e.g. "its inputs changed since its last run"), or a negative KF_E* (err set) when the
 * fingerprint cannot be computed. hex receives the fingerprint either way. */
int kf_stage_fresh(struct kf_lab *lab, const struct kf_stage_def *stage, const struct kf_state *st,
		   char hex[KF_SHA256_HEX_LEN + 1], char *why, size_t whylen, struct kf_err *err);
/* The resume rule of `up`: the index of the first stage to run -- 0 with force, `from` (-1 =
 * none) when no stale stage comes before it, else the first stale or failed one; n when every
 * stage is fresh. Every stage from there on runs, since later stages build on earlier ones. */
int kf_stage_first_to_run(const bool *fresh, int n, int from, bool force);
/* Most stages kf_stage_resume_point looks at. */
#define KF_STAGE_MAX 32
/* Where `up` starts: *first is the first stage to run (kf_stage_first_to_run), found by looking
 * at the stages in order (kf_stage_fresh against <out>/state.json) only up to the first stale
 * one, since later stages may fingerprint outputs of earlier ones that have not run yet. A
 * stage whose fingerprint cannot be computed counts as stale. why receives the reason the
 * first stage must run; it is empty when it runs because of `from` (-1 = none) or force, or
 * when every stage is fresh (*first == n). */
int kf_stage_resume_point(struct kf_lab *lab, const struct kf_stage_def *const *stages, int n,
			  int from, bool force, int *first, char *why, size_t whylen,
			  struct kf_err *err);

#endif
