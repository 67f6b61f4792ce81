/* Durability off the critical path. A file written without fsync is handed to kf_flush_later;
 * one background thread makes each durable (fsync, in the order given) and then runs its
 * `done` hook there -- typically writing the record that says the file is complete, so a
 * record on disk always means durable data before it. kf_flush_wait waits for all of it and
 * reports the first failure; whoever defers owns that wait (`up` waits before it returns).
 * A crash or kill before the wait leaves some records unwritten, never a record without its
 * data: the next run redoes those files. */
#ifndef K3SFORGE_FLUSH_H
#define K3SFORGE_FLUSH_H

#include "k3sforge/err.h"

/* done (may be NULL) runs on the flushing thread after path's fsync succeeded, with arg;
 * free_arg (may be NULL) releases arg afterwards either way. When the thread cannot be
 * started, the work is done here and its result returned. */
int kf_flush_later(const char *path, int (*done)(void *arg, struct kf_err *err), void *arg,
		   void (*free_arg)(void *arg), struct kf_err *err);
/* The same work here and now: path fsynced, then done(arg); free_arg(arg) either way. */
int kf_flush_now(const char *path, int (*done)(void *arg, struct kf_err *err), void *arg,
		 void (*free_arg)(void *arg), struct kf_err *err);
/* Waits until every file handed over so far is durable and its hook ran; the first failure
 * (naming the file), 0 when all went well or nothing was pending. Stops the thread. */
int kf_flush_wait(struct kf_err *err);

#endif
