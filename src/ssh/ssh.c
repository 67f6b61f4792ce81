/* libssh2 sessions to lab nodes: TCP connect with a deadline, ed25519-only handshake, host key
 * pinned from known_hosts and checked before authentication, public-key auth, exec, SFTP. All
 * I/O is non-blocking and driven by deadlines so nothing can hang. */
#include "k3sforge/ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3sforge/digest.h"
#include "k3sforge/log.h"
#include "k3sforge/net.h"
#include "k3sforge/platform.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_EXEC_TIMEOUT_MS 60000
#define DEFAULT_OUT_MAX ((size_t)1024 * 1024)

struct kf_ssh {
	int fd;
	LIBSSH2_SESSION *session;
	char *node;
	char *host;
	int port;
};

const char *kf_ssh_fail_name(enum kf_ssh_fail why)
{
	switch (why) {
	case KF_SSH_OK: return "ok";
	case KF_SSH_REFUSED: return "refused";
	case KF_SSH_TIMEOUT: return "timeout";
	case KF_SSH_NOROUTE: return "no-route";
	case KF_SSH_RESOLVE: return "resolve";
	case KF_SSH_HOSTKEY: return "hostkey";
	case KF_SSH_AUTH: return "auth";
	case KF_SSH_PROTOCOL: return "protocol";
	}
	return "unknown";
}

static const char *label(const char *node, const char *host)
{
	return node && *node ? node : host;
}

/* Non-blocking TCP connect bounded by deadline (monotonic seconds), the failure in ssh's words. */
static int tcp_connect(const char *node, const char *host, int port, double deadline, int *fd_out,
		       enum kf_ssh_fail *why, struct kf_err *err)
{
	struct kf_connect_result res;
	int fd = kf_tcp_connect(host, port, deadline, &res);

	*fd_out = -1;
	switch (res.fail) {
	case KF_CONNECT_OK:
		break;
	case KF_CONNECT_RESOLVE:
		*why = KF_SSH_RESOLVE;
		return kf_err_set(err, KF_ENET, "%s: cannot resolve %s: %s", label(node, host), host,
				  gai_strerror(res.gai));
	case KF_CONNECT_INTERRUPTED:
		*why = KF_SSH_TIMEOUT;
		return kf_err_set(err, KF_EINTR, "%s: interrupted", label(node, host));
	case KF_CONNECT_TIMEOUT:
		*why = KF_SSH_TIMEOUT;
		return kf_err_set(err, KF_ETIMEOUT, "%s: no answer from %s:%d (connect timed out)",
				  label(node, host), host, port);
	case KF_CONNECT_ERRNO:
		if (res.sys == ECONNREFUSED) {
			*why = KF_SSH_REFUSED;
			return kf_err_set(err, KF_ENET,
					  "%s: connection to %s:%d refused (sshd not listening yet?)",
					  label(node, host), host, port);
		}
		*why = (res.sys == EHOSTUNREACH || res.sys == ENETUNREACH) ? KF_SSH_NOROUTE
									  : KF_SSH_PROTOCOL;
		return kf_err_set(err, KF_ENET, "%s: cannot connect to %s:%d: %s", label(node, host),
				  host, port, strerror(res.sys));
	}
	{
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	*fd_out = fd;
	*why = KF_SSH_OK;
	return 0;
}

int kf_tcp_probe(const char *host, int port, int timeout_ms, enum kf_ssh_fail *why,
		 struct kf_err *err)
{
	enum kf_ssh_fail w = KF_SSH_OK;
	int fd = -1;
	int r = tcp_connect(NULL, host, port, kf_now_mono() + timeout_ms / 1000.0, &fd, &w, err);

	if (why)
		*why = w;
	if (fd >= 0)
		close(fd);
	return r;
}

/* Waits until the socket is ready in the direction libssh2 needs, at most until deadline and at
 * most 200 ms per call. Returns 0, KF_EINTR once SIGINT/SIGTERM arrived, or KF_ETIMEOUT once the
 * deadline has passed. */
static int wait_socket(struct kf_ssh *s, double deadline)
{
	int dir = libssh2_session_block_directions(s->session);
	struct pollfd p = { s->fd, 0, 0 };
	int left = (int)((deadline - kf_now_mono()) * 1000);

	if (kf_interrupted())
		return KF_EINTR;
	if (left <= 0)
		return KF_ETIMEOUT;
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		p.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		p.events |= POLLOUT;
	if (!p.events)
		p.events = POLLIN;
	if (left > 200)
		left = 200;
	if (poll(&p, 1, left) < 0 && errno != EINTR)
		return KF_EFAIL;
	return 0;
}

/* The error of a wait_socket that gave up: interrupted, or the timeout the message names. */
static int wait_err(struct kf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int wait_err(struct kf_err *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (kf_interrupted())
		return kf_err_set(err, KF_EINTR, "interrupted");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kf_err_set(err, KF_ETIMEOUT, "%s", msg);
}

static const char *session_error(struct kf_ssh *s)
{
	char *msg = NULL;

	libssh2_session_last_error(s->session, &msg, NULL, 0);
	return msg ? msg : "unknown libssh2 error";
}

/* Fingerprint of a base64 key as stored in known_hosts. */
static void fingerprint_b64(const char *b64, char *out, size_t n)
{
	size_t len = strlen(b64);
	unsigned char *blob = malloc(len + 3);
	int bl;

	snprintf(out, n, "(unreadable)");
	if (!blob)
		return;
	bl = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)len);
	if (bl > 0) {
		/* EVP_DecodeBlock counts '=' padding as zero bytes; drop them. */
		if (len >= 1 && b64[len - 1] == '=')
			bl--;
		if (len >= 2 && b64[len - 2] == '=')
			bl--;
		char fp[KF_SSH_FP_LEN];
		kf_ssh_fingerprint_blob(blob, (size_t)bl, fp);
		snprintf(out, n, "%s", fp);
	}
	free(blob);
}

static int check_host_key(struct kf_ssh *s, const struct kf_ssh_target *t, enum kf_ssh_fail *why,
			  struct kf_err *err)
{
	const char *key;
	size_t keylen = 0;
	int type = 0, rc;
	LIBSSH2_KNOWNHOSTS *kh;
	struct libssh2_knownhost *found = NULL;
	char got[KF_SSH_FP_LEN];

	key = libssh2_session_hostkey(s->session, &keylen, &type);
	if (!key) {
		*why = KF_SSH_PROTOCOL;
		return kf_err_set(err, KF_EFAIL, "%s: server at %s:%d sent no host key", s->node,
				  s->host, s->port);
	}
	kf_ssh_fingerprint_blob(key, keylen, got);
	if (type != LIBSSH2_HOSTKEY_TYPE_ED25519) {
		*why = KF_SSH_HOSTKEY;
		return kf_err_set(err, KF_EHOSTKEY,
				  "%s (%s:%d) presented a non-ed25519 host key (%s); k3sforge pins "
				  "ed25519 keys only",
				  s->node, s->host, s->port, got);
	}
	kh = libssh2_knownhost_init(s->session);
	if (!kh) {
		*why = KF_SSH_PROTOCOL;
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	if (!t->known_hosts ||
	    libssh2_knownhost_readfile(kh, t->known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		libssh2_knownhost_free(kh);
		*why = KF_SSH_HOSTKEY;
		return kf_err_set(err, KF_EHOSTKEY,
				  "%s: cannot read the pinned host keys in %s; run `k3sforge prep` to "
				  "create them",
				  s->node, t->known_hosts ? t->known_hosts : "(none given)");
	}
	rc = libssh2_knownhost_checkp(kh, s->host, s->port, key, keylen,
				      LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
					      LIBSSH2_KNOWNHOST_KEY_ED25519,
				      &found);
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
		libssh2_knownhost_free(kh);
		return 0;
	}
	*why = KF_SSH_HOSTKEY;
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH && found && found->key) {
		char want[80];
		fingerprint_b64(found->key, want, sizeof(want));
		kf_err_set(err, KF_EHOSTKEY,
			   "host key mismatch for %s (%s:%d): expected %s, got %s; refusing to "
			   "authenticate (another machine on this address, or a node reinstalled "
			   "outside k3sforge: rebuild it with k3sforge so it gets its pinned key)",
			   s->node, s->host, s->port, want, got);
	} else {
		kf_err_set(err, KF_EHOSTKEY,
			   "%s (%s:%d): no pinned host key in %s (server offered %s); run `k3sforge "
			   "prep` so every node's key is pinned",
			   s->node, s->host, s->port, t->known_hosts, got);
	}
	libssh2_knownhost_free(kh);
	return KF_EHOSTKEY;
}

int kf_ssh_connect(struct kf_ssh **out, const struct kf_ssh_target *t, enum kf_ssh_fail *why_out,
		   struct kf_err *err)
{
	struct kf_ssh *s = NULL;
	enum kf_ssh_fail why = KF_SSH_OK;
	int timeout = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_TIMEOUT_MS;
	double deadline;
	int r, rc;

	*out = NULL;
	/* libssh2_init ran once in main() (and in the tests' set-up) before any thread */
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	s->fd = -1;
	s->node = strdup(label(t->node, t->host));
	s->host = strdup(t->host);
	s->port = t->port > 0 ? t->port : 22;
	if (!s->node || !s->host) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	deadline = kf_now_mono() + timeout / 1000.0;
	if ((r = tcp_connect(s->node, s->host, s->port, deadline, &s->fd, &why, err)) != 0)
		goto out;

	s->session = libssh2_session_init();
	if (!s->session) {
		r = kf_err_set(err, KF_ENOMEM, "cannot create an SSH session");
		goto out;
	}
	/* Only the algorithm we pinned: a server offering ECDSA first must not win. */
	if (libssh2_session_method_pref(s->session, LIBSSH2_METHOD_HOSTKEY, "ssh-ed25519") != 0) {
		r = kf_err_set(err, KF_EFAIL, "libssh2 lacks ssh-ed25519 host keys (needs OpenSSL)");
		goto out;
	}
	libssh2_session_set_blocking(s->session, 0);
	deadline = kf_now_mono() + timeout / 1000.0;
	while ((rc = libssh2_session_handshake(s->session, s->fd)) == LIBSSH2_ERROR_EAGAIN) {
		if (wait_socket(s, deadline) != 0) {
			why = KF_SSH_TIMEOUT;
			r = wait_err(err,
				       "%s: SSH handshake with %s:%d did not finish in %.0fs", s->node,
				       s->host, s->port, timeout / 1000.0);
			goto out;
		}
	}
	if (rc != 0) {
		why = KF_SSH_PROTOCOL;
		r = kf_err_set(err, KF_EFAIL, "%s: SSH handshake with %s:%d failed: %s", s->node,
			       s->host, s->port, session_error(s));
		goto out;
	}
	if ((r = check_host_key(s, t, &why, err)) != 0)
		goto out;

	deadline = kf_now_mono() + timeout / 1000.0;
	while ((rc = libssh2_userauth_publickey_fromfile_ex(s->session, t->user,
							    (unsigned int)strlen(t->user), NULL,
							    t->key_path, NULL)) ==
	       LIBSSH2_ERROR_EAGAIN) {
		if (wait_socket(s, deadline) != 0) {
			why = KF_SSH_TIMEOUT;
			r = wait_err(err, "%s: SSH authentication timed out", s->node);
			goto out;
		}
	}
	if (rc == LIBSSH2_ERROR_FILE) {
		why = KF_SSH_AUTH;
		r = kf_err_set(err, KF_EIO, "%s: cannot use the operator key %s: %s", s->node,
			       t->key_path, session_error(s));
		goto out;
	}
	if (rc != 0) {
		why = KF_SSH_AUTH;
		r = kf_err_set(err, KF_EAUTH,
			       "%s: %s@%s:%d refused the operator key %s (%s); the guest's "
			       "authorized_keys must hold its .pub",
			       s->node, t->user, s->host, s->port, t->key_path, session_error(s));
		goto out;
	}
	*out = s;
	s = NULL;
	r = 0;
out:
	if (why_out)
		*why_out = r ? why : KF_SSH_OK;
	kf_ssh_close(s);
	return r;
}

void kf_ssh_result_free(struct kf_ssh_result *res)
{
	if (!res)
		return;
	kf_buf_free(&res->out);
	kf_buf_free(&res->errout);
	free(res->exit_signal);
	res->exit_signal = NULL;
}

static void take(struct kf_buf *b, const char *data, size_t n, size_t max, bool *truncated)
{
	size_t room = b->len < max ? max - b->len : 0;
	size_t k = n < room ? n : room;

	if (k)
		kf_buf_append(b, data, k);
	if (k < n)
		*truncated = true;
}

/* Closes and frees a channel, waiting at most a second. */
static void channel_release(struct kf_ssh *s, LIBSSH2_CHANNEL *ch)
{
	double d = kf_now_mono() + 1.0;

	while (libssh2_channel_close(ch) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, d) != 0)
			break;
	while (libssh2_channel_free(ch) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, d) != 0)
			break;
}

int kf_ssh_exec(struct kf_ssh *s, const char *command, int timeout_ms, size_t out_max,
		struct kf_ssh_result *res, struct kf_err *err)
{
	LIBSSH2_CHANNEL *ch = NULL;
	int tmo = timeout_ms > 0 ? timeout_ms : DEFAULT_EXEC_TIMEOUT_MS;
	double deadline = kf_now_mono() + tmo / 1000.0;
	size_t max = out_max ? out_max : DEFAULT_OUT_MAX;
	char chunk[32768];
	int r = 0, rc;

	memset(res, 0, sizeof(*res));
	kf_buf_init(&res->out, max + 1);
	kf_buf_init(&res->errout, max + 1);
	res->exit_status = -1;
	kf_debug("ssh %s: %s", s->node, command);

	while (!(ch = libssh2_channel_open_session(s->session))) {
		if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN)
			return kf_err_set(err, KF_EFAIL, "%s: cannot open an SSH channel: %s", s->node,
					  session_error(s));
		if (wait_socket(s, deadline) != 0)
			return wait_err(err, "%s: opening an SSH channel timed out",
					  s->node);
	}
	while ((rc = libssh2_channel_exec(ch, command)) == LIBSSH2_ERROR_EAGAIN) {
		if (wait_socket(s, deadline) != 0) {
			r = wait_err(err, "%s: starting the command timed out", s->node);
			goto out;
		}
	}
	if (rc != 0) {
		r = kf_err_set(err, KF_EFAIL, "%s: cannot run the command: %s", s->node,
			       session_error(s));
		goto out;
	}
	for (;;) {
		ssize_t n1, n2;
		bool progress = false;
		while ((n1 = libssh2_channel_read(ch, chunk, sizeof(chunk))) > 0) {
			take(&res->out, chunk, (size_t)n1, max, &res->truncated);
			progress = true;
		}
		while ((n2 = libssh2_channel_read_stderr(ch, chunk, sizeof(chunk))) > 0) {
			take(&res->errout, chunk, (size_t)n2, max, &res->truncated);
			progress = true;
		}
		if ((n1 < 0 && n1 != LIBSSH2_ERROR_EAGAIN) || (n2 < 0 && n2 != LIBSSH2_ERROR_EAGAIN)) {
			r = kf_err_set(err, KF_EFAIL, "%s: connection lost while the command ran: %s",
				       s->node, session_error(s));
			goto out;
		}
		if (libssh2_channel_eof(ch))
			break;
		if (!progress && wait_socket(s, deadline) != 0) {
			r = wait_err(err, "%s: command did not finish within %.0fs",
				       s->node, tmo / 1000.0);
			goto out;
		}
	}
	while (libssh2_channel_close(ch) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) != 0)
			break;
	while (libssh2_channel_wait_closed(ch) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline) != 0)
			break;
	{
		char *sig = NULL;
		size_t siglen = 0;
		res->exit_status = libssh2_channel_get_exit_status(ch);
		if (libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL, NULL, NULL) == 0 &&
		    sig) {
			res->exit_signal = strndup(sig, siglen);
			res->exit_status = -1;
			libssh2_free(s->session, sig);
		}
	}
out:
	if (ch)
		channel_release(s, ch);
	return r;
}

static LIBSSH2_SFTP *sftp_open(struct kf_ssh *s, double deadline, struct kf_err *err)
{
	LIBSSH2_SFTP *sftp;

	while (!(sftp = libssh2_sftp_init(s->session))) {
		if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN) {
			kf_err_set(err, KF_EFAIL, "%s: cannot start SFTP: %s", s->node, session_error(s));
			return NULL;
		}
		if (wait_socket(s, deadline) != 0) {
			wait_err(err, "%s: starting SFTP timed out", s->node);
			return NULL;
		}
	}
	return sftp;
}

static void sftp_close(struct kf_ssh *s, LIBSSH2_SFTP *sftp, LIBSSH2_SFTP_HANDLE *h)
{
	double d = kf_now_mono() + 2.0;

	if (h)
		while (libssh2_sftp_close_handle(h) == LIBSSH2_ERROR_EAGAIN)
			if (wait_socket(s, d) != 0)
				break;
	if (sftp)
		while (libssh2_sftp_shutdown(sftp) == LIBSSH2_ERROR_EAGAIN)
			if (wait_socket(s, d) != 0)
				break;
}

static const char *sftp_reason(LIBSSH2_SFTP *sftp)
{
	switch (libssh2_sftp_last_error(sftp)) {
	case LIBSSH2_FX_NO_SUCH_FILE: return "no such file";
	case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "no space left on the guest";
	default: return "SFTP error";
	}
}

int kf_ssh_read_file(struct kf_ssh *s, const char *path, char **out, size_t *len, size_t max,
		     struct kf_err *err)
{
	double deadline = kf_now_mono() + 60.0;
	LIBSSH2_SFTP *sftp;
	LIBSSH2_SFTP_HANDLE *h = NULL;
	struct kf_buf b;
	char chunk[32768];
	ssize_t n;
	int r = 0;

	*out = NULL;
	if (len)
		*len = 0;
	kf_buf_init(&b, max + 1);
	if (!(sftp = sftp_open(s, deadline, err)))
		return err ? err->code : KF_EFAIL;
	while (!(h = libssh2_sftp_open(sftp, path, LIBSSH2_FXF_READ, 0))) {
		if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN) {
			r = kf_err_set(err, KF_ENOTFOUND, "%s: cannot open %s: %s", s->node, path,
				       sftp_reason(sftp));
			goto out;
		}
		if (wait_socket(s, deadline) != 0) {
			r = wait_err(err, "%s: opening %s timed out", s->node, path);
			goto out;
		}
	}
	for (;;) {
		n = libssh2_sftp_read(h, chunk, sizeof(chunk));
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (wait_socket(s, deadline) != 0) {
				r = wait_err(err, "%s: reading %s timed out", s->node, path);
				goto out;
			}
			continue;
		}
		if (n < 0) {
			r = kf_err_set(err, KF_EIO, "%s: reading %s failed: %s", s->node, path,
				       sftp_reason(sftp));
			goto out;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			r = kf_err_set(err, KF_ELIMIT, "%s: %s is larger than %zu bytes", s->node, path,
				       max);
			goto out;
		}
		kf_buf_append(&b, chunk, (size_t)n);
	}
	if (len)
		*len = b.len;
	*out = kf_buf_detach(&b);
out:
	sftp_close(s, sftp, h);
	kf_buf_free(&b);
	return r;
}

int kf_ssh_write_file(struct kf_ssh *s, const char *path, const void *data, size_t len, int mode,
		      struct kf_err *err)
{
	double deadline = kf_now_mono() + 60.0;
	LIBSSH2_SFTP *sftp;
	LIBSSH2_SFTP_HANDLE *h = NULL;
	const char *p = data;
	size_t off = 0;
	int r = 0;

	if (!(sftp = sftp_open(s, deadline, err)))
		return err ? err->code : KF_EFAIL;
	while (!(h = libssh2_sftp_open(sftp, path,
				       LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC,
				       mode))) {
		if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN) {
			r = kf_err_set(err, KF_EIO, "%s: cannot create %s: %s", s->node, path,
				       sftp_reason(sftp));
			goto out;
		}
		if (wait_socket(s, deadline) != 0) {
			r = wait_err(err, "%s: creating %s timed out", s->node, path);
			goto out;
		}
	}
	while (off < len) {
		ssize_t n = libssh2_sftp_write(h, p + off, len - off);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (wait_socket(s, deadline) != 0) {
				r = wait_err(err, "%s: writing %s timed out", s->node, path);
				goto out;
			}
			continue;
		}
		if (n < 0) {
			r = kf_err_set(err, KF_EIO, "%s: writing %s failed: %s", s->node, path,
				       sftp_reason(sftp));
			goto out;
		}
		off += (size_t)n;
	}
out:
	sftp_close(s, sftp, h);
	return r;
}

void kf_ssh_close(struct kf_ssh *s)
{
	if (!s)
		return;
	if (s->session) {
		/* Blocking with a short timeout: libssh2_session_free returns EAGAIN in non-blocking
		 * mode while channels remain, and would leak the session. */
		libssh2_session_set_timeout(s->session, 1000);
		libssh2_session_set_blocking(s->session, 1);
		libssh2_session_disconnect(s->session, "bye");
		libssh2_session_free(s->session);
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s->node);
	free(s->host);
	free(s);
}
