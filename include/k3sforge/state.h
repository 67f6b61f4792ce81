/* <out>/state.json: per stage, status, start/end, duration and input fingerprint, plus a JSON
 * object where a stage records what it did. Written atomically; a corrupt file is set aside
 * (renamed *.corrupt-<time>) and reported, never trusted. */
#ifndef K3SFORGE_STATE_H
#define K3SFORGE_STATE_H

#include <jansson.h>
#include <stdbool.h>

#include "k3sforge/err.h"

struct kf_state;

struct kf_state_rec {
	const char *status;       /* "done", "failed", "running"; borrowed */
	double start, end, duration;
	const char *fingerprint;  /* borrowed; may be NULL */
	const char *error;        /* borrowed; may be NULL */
};

/* Loads <dir>/state.json (a missing file is an empty state). */
int kf_state_load(struct kf_state **out, const char *dir, struct kf_err *err);
/* The record of a stage; returns false when the stage has none. */
bool kf_state_get(const struct kf_state *st, const char *stage, struct kf_state_rec *rec);
int kf_state_set(struct kf_state *st, const char *stage, const char *status, double start,
		 double end, const char *fingerprint, const char *error);
/* Removes a stage's record (used to invalidate later stages). */
void kf_state_clear(struct kf_state *st, const char *stage);
/* The stage's free-form data object (created on demand; borrowed). */
json_t *kf_state_data(struct kf_state *st, const char *stage);
int kf_state_save(struct kf_state *st, struct kf_err *err);
/* True when loading found a corrupt file and set it aside (path in *moved_to, borrowed). */
bool kf_state_was_corrupt(const struct kf_state *st, const char **moved_to);
void kf_state_free(struct kf_state *st);

#endif
