/* Reaching a node over SSH with the pinned trust of the output directory. */
#include "k3sforge/node.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/platform.h"

int kf_node_access_init(struct kf_node_access *a, const struct kf_config *cfg,
			const struct kf_node *n, const char *out_dir, int timeout_ms,
			struct kf_err *err)
{
	memset(a, 0, sizeof(*a));
	a->known_hosts = kf_path_join(out_dir, KF_OUT_KNOWN_HOSTS);
	a->key = kf_path_join(out_dir, KF_OUT_SSH_KEY);
	if (!a->known_hosts || !a->key) {
		kf_node_access_free(a);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	a->target.node = n->name;
	a->target.host = n->ssh_host ? n->ssh_host : n->ip;
	a->target.port = n->ssh_port > 0 ? n->ssh_port : 22;
	a->target.user = cfg->guest.user;
	a->target.known_hosts = a->known_hosts;
	a->target.key_path = a->key;
	a->target.timeout_ms = timeout_ms > 0 ? timeout_ms : cfg->timeouts.ssh_connect_s * 1000;
	return 0;
}

void kf_node_access_free(struct kf_node_access *a)
{
	free(a->known_hosts);
	free(a->key);
	a->known_hosts = a->key = NULL;
}

int kf_node_connect(struct kf_ssh **out, const struct kf_config *cfg, const struct kf_node *n,
		    const char *out_dir, int timeout_ms, enum kf_ssh_fail *why, struct kf_err *err)
{
	struct kf_node_access a;
	int r;

	*out = NULL;
	if ((r = kf_node_access_init(&a, cfg, n, out_dir, timeout_ms, err)) != 0)
		return r;
	r = kf_ssh_connect(out, &a.target, why, err);
	kf_node_access_free(&a);
	return r;
}

int kf_node_clock_skew(struct kf_ssh *s, int timeout_ms, double *skew_s, struct kf_err *err)
{
	struct kf_ssh_result res = { 0 };
	struct kf_err e;
	double t0 = kf_now_wall(), t1, guest = 0;
	const char *text;
	char *copy = NULL, *end = NULL;
	size_t n;
	int r;

	r = kf_ssh_exec(s, "date +%s.%N", timeout_ms, 64 * 1024, &res, &e);
	t1 = kf_now_wall();
	if (r != 0)
		text = e.msg;
	else if (res.out.len == 0 && res.errout.len)
		text = kf_buf_str(&res.errout);
	else
		text = kf_buf_str(&res.out);
	n = strlen(text);
	while (n && isspace((unsigned char)text[n - 1]))
		n--;
	if (!(copy = strndup(text, n))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (r == 0 && res.exit_status == 0)
		guest = strtod(copy, &end);
	if (guest > 0 && end && end != copy && *end == '\0') {
		*skew_s = guest - (t0 + t1) / 2.0;
		r = 0;
	} else {
		r = kf_err_set(err, KF_EFAIL, "%s", copy);
	}
out:
	free(copy);
	kf_ssh_result_free(&res);
	return r;
}
