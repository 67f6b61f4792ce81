/* A QMP client: one connection to a VM's monitor socket, commands one at a time, every read
 * bounded in size and time. The peer is QEMU, but a socket file can be anything: a message that
 * is not one JSON object of the expected shape, or longer than KF_QMP_MAX_MSG, is an error.
 *
 * Protocol (QEMU docs/interop/qmp-spec.rst, sections 2.2-2.5): the server greets with
 * {"QMP": {"version": ..., "capabilities": [...]}}, the client must send qmp_capabilities
 * before any other command, then every command gets exactly one {"return": ...} or
 * {"error": {"class": ..., "desc": ...}} carrying the command's "id", and asynchronous
 * {"event": ...} messages may come in between. Messages are separated by CR LF. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/platform.h"
#include "k3sforge/qemu.h"

#define MAX_EVENTS_KEPT 64

struct kf_qmp {
	int fd;
	int timeout_ms;
	unsigned long next_id;
	struct kf_buf in;         /* bytes read, not yet a whole message */
	char *events[MAX_EVENTS_KEPT];
	size_t n_events;
};

int kf_qmp_parse(const char *text, size_t len, enum kf_qmp_kind *kind, json_t **value,
		 struct kf_err *err)
{
	json_error_t je;
	json_t *root, *v;

	*value = NULL;
	if (len > KF_QMP_MAX_MSG)
		return kf_err_set(err, KF_EPARSE, "QMP message of %zu bytes is over the %zu limit",
				  len, KF_QMP_MAX_MSG);
	/* JSON_REJECT_DUPLICATES: one meaning per message; depth is bounded by jansson (2048) */
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return kf_err_set(err, KF_EPARSE, "QMP message is not JSON (%s at byte %d)",
				  je.text, je.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return kf_err_set(err, KF_EPARSE, "QMP message is not a JSON object");
	}
	if ((v = json_object_get(root, "return")) != NULL) {
		*kind = KF_QMP_RETURN;
		*value = json_incref(v);
	} else if ((v = json_object_get(root, "error")) != NULL && json_is_object(v)) {
		*kind = KF_QMP_ERROR;
		*value = json_incref(v);
	} else if ((v = json_object_get(root, "event")) != NULL && json_is_string(v)) {
		*kind = KF_QMP_EVENT;
		*value = json_incref(root);
	} else if ((v = json_object_get(root, "QMP")) != NULL && json_is_object(v)) {
		*kind = KF_QMP_GREETING;
		*value = json_incref(v);
	} else {
		json_decref(root);
		return kf_err_set(err, KF_EPARSE, "QMP message has none of return, error, event, QMP");
	}
	json_decref(root);
	return 0;
}

char *kf_qmp_error_text(const json_t *error)
{
	const char *cls = json_string_value(json_object_get(error, "class"));
	const char *desc = json_string_value(json_object_get(error, "desc"));
	char *s = NULL;

	if (asprintf(&s, "%s: %s", cls ? cls : "Error", desc ? desc : "(no description)") < 0)
		return NULL;
	return s;
}

/* Connects to dir/name; a path too long for sun_path goes through the directory's descriptor
 * (/proc/self/fd/N/name resolves like the real path). */
static int connect_unix(int *out, const char *dir, const char *name, struct kf_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, dfd = -1, n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return kf_err_set(err, KF_EIO, "%s: %s", dir, strerror(errno));
		n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, name);
		if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
			close(dfd);
			return kf_err_set(err, KF_ELIMIT, "QMP socket name '%s' is too long", name);
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (dfd >= 0)
			close(dfd);
		return kf_err_set(err, KF_EIO, "socket: %s", strerror(errno));
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		if (dfd >= 0)
			close(dfd);
		return kf_err_set(err, e == ENOENT ? KF_ENOTFOUND : KF_EIO,
				  "cannot connect to the VM's QMP socket %s/%s: %s", dir, name,
				  strerror(e));
	}
	if (dfd >= 0)
		close(dfd);
	*out = fd;
	return 0;
}

/* Reads the next whole message into *line (caller frees), waiting until the deadline. */
static int read_message(struct kf_qmp *q, double deadline, char **line, size_t *len,
			struct kf_err *err)
{
	for (;;) {
		const char *d = kf_buf_str(&q->in);
		const char *nl = memchr(d, '\n', q->in.len);
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		char chunk[8192];
		double left;
		ssize_t n;
		int pr;

		if (nl) {
			size_t l = (size_t)(nl - d), rest = q->in.len - l - 1;
			if (l > 0 && d[l - 1] == '\r')
				l--;
			if (!(*line = strndup(d, l)))
				return kf_err_set(err, KF_ENOMEM, "out of memory");
			*len = l;
			memmove(q->in.data, nl + 1, rest);
			q->in.len = rest;
			q->in.data[rest] = '\0';
			return 0;
		}
		if (q->in.len > KF_QMP_MAX_MSG)
			return kf_err_set(err, KF_EPARSE, "QMP message longer than %zu bytes without "
					  "an end", KF_QMP_MAX_MSG);
		if (kf_interrupted())
			return kf_err_set(err, KF_EINTR, "interrupted");
		left = deadline - kf_now_mono();
		if (left <= 0)
			return kf_err_set(err, KF_ETIMEOUT, "QMP: no answer within %d ms",
					  q->timeout_ms);
		/* wake every 250 ms to notice an interrupt */
		pr = poll(&pfd, 1, left > 0.25 ? 250 : (int)(left * 1000) + 1);
		if (pr < 0 && errno != EINTR)
			return kf_err_set(err, KF_EIO, "QMP: poll: %s", strerror(errno));
		if (pr <= 0)
			continue;
		n = read(q->fd, chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return kf_err_set(err, KF_EIO, "QMP: read: %s", strerror(errno));
		if (n == 0)
			return kf_err_set(err, KF_EIO, "QMP: the VM closed the connection");
		if (kf_buf_append(&q->in, chunk, (size_t)n) != 0)
			return kf_err_set(err, KF_EPARSE, "QMP message longer than %zu bytes",
					  KF_QMP_MAX_MSG);
	}
}

static void keep_event(struct kf_qmp *q, const json_t *ev)
{
	const char *name = json_string_value(json_object_get(ev, "event"));
	char *dup;

	if (!name || q->n_events >= MAX_EVENTS_KEPT || !(dup = strdup(name)))
		return;
	q->events[q->n_events++] = dup;
}

static int write_all(struct kf_qmp *q, const char *s, size_t len, double deadline,
		     struct kf_err *err)
{
	while (len > 0) {
		struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };
		double left = deadline - kf_now_mono();
		ssize_t n;

		if (left <= 0)
			return kf_err_set(err, KF_ETIMEOUT, "QMP: the VM does not read its socket");
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = send(q->fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return kf_err_set(err, KF_EIO, "QMP: write: %s", strerror(errno));
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

int kf_qmp_open_fd(struct kf_qmp **out, int fd, int timeout_ms, struct kf_err *err)
{
	struct kf_qmp *q = calloc(1, sizeof(*q));
	enum kf_qmp_kind kind;
	json_t *v = NULL;
	char *line = NULL;
	size_t len;
	int r;

	*out = NULL;
	if (!q) {
		close(fd);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	q->fd = fd;
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	kf_buf_init(&q->in, KF_QMP_MAX_MSG + 8192);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if ((r = read_message(q, kf_now_mono() + q->timeout_ms / 1000.0, &line, &len, err)) != 0)
		goto fail;
	if ((r = kf_qmp_parse(line, len, &kind, &v, err)) != 0)
		goto fail;
	if (kind != KF_QMP_GREETING) {
		r = kf_err_set(err, KF_EPARSE, "QMP: the socket did not greet as QEMU does");
		goto fail;
	}
	if ((r = kf_qmp_exec(q, "qmp_capabilities", NULL, NULL, err)) != 0)
		goto fail;
	free(line);
	json_decref(v);
	*out = q;
	return 0;
fail:
	free(line);
	json_decref(v);
	kf_qmp_close(q);
	return r;
}

int kf_qmp_open(struct kf_qmp **out, const char *dir, const char *name, int timeout_ms,
		struct kf_err *err)
{
	int fd = -1, r;

	*out = NULL;
	if ((r = connect_unix(&fd, dir, name, err)) != 0)
		return r;
	return kf_qmp_open_fd(out, fd, timeout_ms, err);
}

int kf_qmp_exec(struct kf_qmp *q, const char *command, json_t *args, json_t **ret,
		struct kf_err *err)
{
	double deadline = kf_now_mono() + q->timeout_ms / 1000.0;
	enum kf_qmp_kind kind = KF_QMP_RETURN;
	json_t *msg = json_object(), *v = NULL;
	char id[32], *text = NULL, *line = NULL;
	size_t len;
	int r;

	if (ret)
		*ret = NULL;
	snprintf(id, sizeof(id), "kf-%lu", ++q->next_id);
	if (!msg || json_object_set_new(msg, "execute", json_string(command)) != 0 ||
	    json_object_set_new(msg, "id", json_string(id)) != 0 ||
	    (args && json_object_set(msg, "arguments", args) != 0) ||
	    !(text = json_dumps(msg, JSON_COMPACT))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = write_all(q, text, strlen(text), deadline, err)) != 0 ||
	    (r = write_all(q, "\n", 1, deadline, err)) != 0)
		goto out;
	for (;;) {
		json_t *root;
		const char *rid;
		bool ours;

		free(line);
		line = NULL;
		json_decref(v);
		v = NULL;
		if ((r = read_message(q, deadline, &line, &len, err)) != 0 ||
		    (len > 0 && (r = kf_qmp_parse(line, len, &kind, &v, err)) != 0)) {
			kf_err_wrap(err, "QMP %s", command);
			goto out;
		}
		if (len == 0)
			continue;
		if (kind == KF_QMP_EVENT) {
			keep_event(q, v);
			continue;
		}
		if (kind == KF_QMP_GREETING) {
			r = kf_err_set(err, KF_EPARSE, "QMP %s: a second greeting", command);
			goto out;
		}
		/* kf_qmp_parse kept the inner value; the id is at the top level. An answer without
		 * our id (QEMU echoes the id it was sent, qmp-spec.rst 2.4) is not for us. */
		root = json_loadb(line, len, 0, NULL);
		rid = json_string_value(json_object_get(root, "id"));
		ours = rid && strcmp(rid, id) == 0;
		json_decref(root);
		if (ours)
			break;
	}
	if (kind == KF_QMP_ERROR) {
		char *t = kf_qmp_error_text(v);
		r = kf_err_set(err, KF_EFAIL, "QMP %s: %s", command, t ? t : "error");
		free(t);
		goto out;
	}
	if (ret) {
		*ret = v;
		v = NULL;
	}
	r = 0;
out:
	free(text);
	free(line);
	json_decref(v);
	json_decref(msg);
	json_decref(args);
	return r;
}

bool kf_qmp_saw_event(const struct kf_qmp *q, const char *event)
{
	for (size_t i = 0; i < q->n_events; i++)
		if (strcmp(q->events[i], event) == 0)
			return true;
	return false;
}

void kf_qmp_close(struct kf_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	for (size_t i = 0; i < q->n_events; i++)
		free(q->events[i]);
	kf_buf_free(&q->in);
	free(q);
}
