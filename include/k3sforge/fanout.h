/* One node per thread: the lab's fan-out (create-vms' starts, finalize's detaches, wait,
 * snapshots, status, doctor). Bounded concurrency, a result per item, and cancellation: once
 * kf_interrupted(), items not yet begun are not begun (their result is KF_EINTR). */
#ifndef K3SFORGE_FANOUT_H
#define K3SFORGE_FANOUT_H

#include <stddef.h>

struct kf_each;

/* Calls fn(arg, i) for every i < n, at most `limit` at a time (0 = all at once), each in a
 * thread of its own or, when no thread can be made, in the calling thread; waits for all.
 * rcs (may be NULL) receives each item's result: fn's return, or KF_EINTR for an item not
 * begun. Returns how many items did not return 0. */
size_t kf_each_node(size_t n, size_t limit, int (*fn)(void *arg, size_t i), void *arg, int *rcs);
/* The same in two halves, for a caller with its own work meanwhile (status checks the
 * registry while the nodes answer): begin returns once the threads run (or, when none can be
 * made, once the calling thread did every item); end waits for all and frees the handle.
 * NULL from begin means out of memory before anything ran. */
struct kf_each *kf_each_node_begin(size_t n, size_t limit, int (*fn)(void *arg, size_t i),
				   void *arg, int *rcs);
size_t kf_each_node_end(struct kf_each *e);

#endif
