/* Progress of long work: one live line on a terminal (rewritten in place, throttled), progress
 * events with --json, nothing otherwise. Thread-safe. */
#ifndef K3SFORGE_PROGRESS_H
#define K3SFORGE_PROGRESS_H

#include <stdint.h>

struct kf_progress;

/* `what` names the work ("download k3s-airgap-images-amd64.tar.zst"); total 0 = unknown. */
struct kf_progress *kf_progress_new(const char *what, uint64_t total_bytes, int total_items);
/* Sets absolute counters. */
void kf_progress_update(struct kf_progress *p, uint64_t done_bytes, int done_items);
/* Adds to counters (from worker threads). */
void kf_progress_add(struct kf_progress *p, uint64_t bytes, int items);
void kf_progress_set_total(struct kf_progress *p, uint64_t total_bytes, int total_items);
/* Clears the live line and emits a final event; frees p. */
void kf_progress_done(struct kf_progress *p, int ok);

#endif
