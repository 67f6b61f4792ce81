/* See flush.h. One worker thread, started with the first file handed over and joined by
 * kf_flush_wait; a FIFO of jobs under one mutex. */
#include "k3sforge/flush.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct job {
	struct job *next;
	char *path;
	int (*done)(void *, struct kf_err *);
	void *arg;
	void (*free_arg)(void *);
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct job *head, *tail;
static pthread_t worker;
static bool running, stopping;
static int first_r;             /* the first failure and its message */
static struct kf_err first_err;

static void job_free(struct job *j)
{
	if (j->free_arg)
		j->free_arg(j->arg);
	free(j->path);
	free(j);
}

static int job_do(struct job *j, struct kf_err *err)
{
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO,
				  "%s: cannot open to make it durable: %s", j->path, strerror(errno));
	if (fsync(fd) != 0) {
		int e = errno;

		close(fd);
		return kf_err_set(err, KF_EIO, "%s: fsync: %s%s", j->path, strerror(e),
				  e == ENOSPC ? " (free some disk space and run again)" : "");
	}
	close(fd);
	return j->done ? j->done(j->arg, err) : 0;
}

/* Runs and frees j; a failure is kept if it is the first (mu is taken for that). */
static void job_run(struct job *j, bool locked)
{
	struct kf_err e;
	int r;

	kf_err_clear(&e);
	r = job_do(j, &e);
	job_free(j);
	if (!r)
		return;
	if (!locked)
		pthread_mutex_lock(&mu);
	if (!first_r) {
		first_r = r;
		first_err = e;
	}
	if (!locked)
		pthread_mutex_unlock(&mu);
}

static struct job *job_pop(void)
{
	struct job *j = head;

	head = j->next;
	if (!head)
		tail = NULL;
	return j;
}

static void *work(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&mu);
	for (;;) {
		struct job *j;

		while (!head && !stopping)
			pthread_cond_wait(&cv, &mu);
		if (!head)
			break;
		j = job_pop();
		pthread_mutex_unlock(&mu);
		job_run(j, false);
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

static struct job *job_new(const char *path, int (*done)(void *, struct kf_err *), void *arg,
			   void (*free_arg)(void *), struct kf_err *err)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j || !(j->path = strdup(path))) {
		free(j);
		if (free_arg)
			free_arg(arg);
		kf_err_set(err, KF_ENOMEM, "out of memory");
		return NULL;
	}
	j->done = done;
	j->arg = arg;
	j->free_arg = free_arg;
	return j;
}

/* Runs j here and now: its own result, not kept for kf_flush_wait. */
static int job_here(struct job *j, struct kf_err *err)
{
	int r = job_do(j, err);

	job_free(j);
	return r;
}

int kf_flush_now(const char *path, int (*done)(void *arg, struct kf_err *err), void *arg,
		 void (*free_arg)(void *arg), struct kf_err *err)
{
	struct job *j = job_new(path, done, arg, free_arg, err);

	return j ? job_here(j, err) : KF_ENOMEM;
}

int kf_flush_later(const char *path, int (*done)(void *arg, struct kf_err *err), void *arg,
		   void (*free_arg)(void *arg), struct kf_err *err)
{
	struct job *j = job_new(path, done, arg, free_arg, err);

	if (!j)
		return KF_ENOMEM;
	pthread_mutex_lock(&mu);
	if (!running) {
		stopping = false;
		if (pthread_create(&worker, NULL, work, NULL) == 0)
			running = true;
	}
	if (running) {
		if (tail)
			tail->next = j;
		else
			head = j;
		tail = j;
		pthread_cond_signal(&cv);
		j = NULL;
	}
	pthread_mutex_unlock(&mu);
	return j ? job_here(j, err) : 0; /* no thread: here and now */
}

int kf_flush_wait(struct kf_err *err)
{
	int r;

	pthread_mutex_lock(&mu);
	if (running) {
		stopping = true;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
		pthread_join(worker, NULL);
		pthread_mutex_lock(&mu);
		running = false;
		stopping = false;
		/* handed over while the worker was ending (another thread): done here */
		while (head)
			job_run(job_pop(), true);
	}
	r = first_r;
	if (r && err)
		*err = first_err;
	first_r = 0;
	kf_err_clear(&first_err);
	pthread_mutex_unlock(&mu);
	return r;
}
