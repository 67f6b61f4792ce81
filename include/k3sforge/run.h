/* The run's timings: "start: <name>", "done: prep (took 12.3s)", the stage events and the
 * end-of-run summary table. */
#ifndef K3SFORGE_RUN_H
#define K3SFORGE_RUN_H

#include <stdbool.h>

/* Per-invocation timing records. */
struct kf_run;
int kf_run_new(struct kf_run **out);
void kf_run_free(struct kf_run *run);
/* Starts timing a step; logs "start: <name>" and a stage_start event. */
void kf_stage_begin(struct kf_run *run, const char *name);
/* Ends it: "done: <name> (took 12.3s)" or "failed: <name> after 3.1s: <reason>", and an event.
 * Returns the elapsed seconds. rc is the stage's result code. */
double kf_stage_end(struct kf_run *run, const char *name, int rc, const char *reason);
/* Records a stage that was skipped because its state is fresh. */
void kf_stage_skip(struct kf_run *run, const char *name, const char *why);
/* Prints the summary table: every stage, its time, its share of the total, and the total. */
void kf_run_summary(const struct kf_run *run);
/* Number of recorded steps (tests). */
int kf_run_count(const struct kf_run *run);

#endif
