/* The fan-out (fanout.h): a work queue of item indexes served by up to `limit` threads. */
#include "k3sforge/fanout.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "k3sforge/err.h"
#include "k3sforge/platform.h"

struct kf_each {
	pthread_mutex_t mu;
	size_t n, next, failed;
	int (*fn)(void *arg, size_t i);
	void *arg;
	int *rcs;
	pthread_t *th;
	size_t made;
};

/* Takes items until none is left. */
static void *serve(void *p)
{
	struct kf_each *e = p;

	for (;;) {
		size_t i;
		int rc;

		pthread_mutex_lock(&e->mu);
		i = e->next < e->n ? e->next++ : e->n;
		pthread_mutex_unlock(&e->mu);
		if (i >= e->n)
			return NULL;
		rc = kf_interrupted() ? KF_EINTR : e->fn(e->arg, i);
		pthread_mutex_lock(&e->mu);
		if (e->rcs)
			e->rcs[i] = rc;
		if (rc)
			e->failed++;
		pthread_mutex_unlock(&e->mu);
	}
}

struct kf_each *kf_each_node_begin(size_t n, size_t limit, int (*fn)(void *arg, size_t i),
				   void *arg, int *rcs)
{
	struct kf_each *e = calloc(1, sizeof(*e));
	size_t nth = limit && limit < n ? limit : n;

	if (!e)
		return NULL;
	e->n = n;
	e->fn = fn;
	e->arg = arg;
	e->rcs = rcs;
	pthread_mutex_init(&e->mu, NULL);
	e->th = nth ? calloc(nth, sizeof(*e->th)) : NULL;
	for (size_t t = 0; e->th && t < nth; t++)
		if (pthread_create(&e->th[e->made], NULL, serve, e) == 0)
			e->made++;
	/* no thread at all (or no memory for their handles): the caller serves the queue */
	if (e->made == 0)
		serve(e);
	return e;
}

size_t kf_each_node_end(struct kf_each *e)
{
	size_t failed;

	if (!e)
		return 0;
	for (size_t t = 0; t < e->made; t++)
		pthread_join(e->th[t], NULL);
	failed = e->failed;
	free(e->th);
	pthread_mutex_destroy(&e->mu);
	free(e);
	return failed;
}

size_t kf_each_node(size_t n, size_t limit, int (*fn)(void *arg, size_t i), void *arg, int *rcs)
{
	struct kf_each *e = kf_each_node_begin(n, limit, fn, arg, rcs);

	if (e)
		return kf_each_node_end(e);
	/* out of memory for the queue itself: one item after another, here */
	{
		size_t failed = 0;
		for (size_t i = 0; i < n; i++) {
			int rc = kf_interrupted() ? KF_EINTR : fn(arg, i);
			if (rcs)
				rcs[i] = rc;
			failed += rc != 0;
		}
		return failed;
	}
}
