/* Progress of long work: one live line on a terminal (rewritten in place, throttled, cut to the
 * terminal's width), progress events with --json, nothing otherwise. Thread-safe. */
#ifndef K3SFORGE_PROGRESS_H
#define K3SFORGE_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
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

/* Shows the node_phase events of a wait as one live line on a terminal, nodes in the given
 * order: "master: ssh ✓ marker k3s-ready  worker1: booting  (1m05s)". Nothing unless the
 * terminal sink is a terminal, text mode and not -q. Returns whether the line is live. */
bool kf_progress_nodes_begin(const char *const *names, size_t n);
/* Clears the node line and stops following events. */
void kf_progress_nodes_end(void);
/* Is a live node line being drawn? (The waiter then keeps its periodic status lines to the log
 * file, where the terminal shows them live.) */
bool kf_progress_nodes_live(void);

/* Cuts s in place to at most cols-1 characters (the last column stays empty so the terminal
 * never wraps); counts UTF-8 code points, each as one column, and never splits one. */
void kf_progress_fit(char *s, int cols);
/* A duration as "42s", "1m05s" or "2h03m". */
void kf_progress_duration(double seconds, char *out, size_t n);
/* Columns of the terminal behind fd: TIOCGWINSZ, else $COLUMNS, else 80. */
int kf_progress_term_cols(int fd);

/* A byte count for people: "512 B", "1.5 KiB", "3.2 GiB" (binary units up to TiB). */
void kf_size_format(uint64_t n, char *out, size_t len);

#endif
