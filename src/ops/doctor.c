/* Deep checks of the lab's nodes over SSH (include/k3sforge/doctor.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/artifacts.h"
#include "k3sforge/buf.h"
#include "k3sforge/doctor.h"
#include "k3sforge/fanout.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/node.h"
#include "k3sforge/platform.h"
#include "k3sforge/registries_yaml.h"
#include "k3sforge/regserver.h"
#include "k3sforge/ssh.h"
#include "k3sforge/wait.h"

#define OUT_MAX (256 * 1024)

/* The seeds' markers under /var/lib and why each matters (in the order node-prep writes them). */
static const struct {
	const char *name;
	const char *why;
} markers[] = {
	{ KF_MARKER_ISO_COPY, "the installer did not copy the payload (k3s, images, CA) to the disk" },
	{ KF_MARKER_HOSTNAME, "the node may join k3s under the wrong name" },
	{ KF_MARKER_TIMEZONE, "log times will not match the host's" },
	{ KF_MARKER_SWAP, "the kubelet refuses to run with swap on" },
	{ KF_MARKER_MODULES, "overlay/br_netfilter missing: pods get no network" },
	{ KF_MARKER_SYSCTL, "bridged traffic bypasses iptables: services do not route" },
	{ KF_MARKER_CA_CERTS, "the guest does not trust the lab CA: image pulls fail TLS" },
	{ KF_MARKER_SYNC_TIME, "the clock is not set before TLS: fresh certificates look invalid" },
	{ KF_MARKER_CLOUD_INIT, "node preparation stopped part way" },
};

struct out {
	int status;               /* exit status; -1 = did not run */
	char *text;               /* stdout (+ stderr when asked), trimmed */
};

struct job {
	const struct kf_config *cfg;
	const struct kf_doctor_opts *o;
	const struct kf_node *n;
	char **expected;          /* k3s-images.txt, borrowed */
	size_t n_expected;
	struct kf_findings f;
	struct kf_captures caps;
	int rc;
	/* Every command of a node runs in one SSH exec (one round trip, one session); run()
	 * answers from here. */
	char **batch_cmd;
	struct out *batch_out;
	size_t n_batch;
};

int kf_captures_add(struct kf_captures *caps, const char *name, const char *text, size_t len)
{
	struct kf_capture *nv = realloc(caps->v, (caps->n + 1) * sizeof(*nv));

	if (!nv)
		return KF_ENOMEM;
	caps->v = nv;
	nv[caps->n].name = strdup(name);
	nv[caps->n].text = malloc(len + 1);
	if (!nv[caps->n].name || !nv[caps->n].text) {
		free(nv[caps->n].name);
		free(nv[caps->n].text);
		return KF_ENOMEM;
	}
	memcpy(nv[caps->n].text, text, len);
	nv[caps->n].text[len] = '\0';
	caps->n++;
	return 0;
}

void kf_captures_free(struct kf_captures *caps)
{
	for (size_t i = 0; caps && i < caps->n; i++) {
		free(caps->v[i].name);
		free(caps->v[i].text);
	}
	if (caps) {
		free(caps->v);
		caps->v = NULL;
		caps->n = 0;
	}
}


static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

static struct out run_one(struct kf_ssh *s, const char *cmd, int timeout_ms)
{
	struct kf_ssh_result res = { 0 };
	struct out o = { -1, NULL };
	struct kf_err e;

	if (kf_ssh_exec(s, cmd, timeout_ms, OUT_MAX, &res, &e) == 0) {
		o.status = res.exit_status;
		if (res.out.len == 0 && res.errout.len)
			o.text = strdup(kf_buf_str(&res.errout));
		else
			o.text = strdup(kf_buf_str(&res.out));
	} else {
		o.text = strdup(e.msg);
	}
	if (o.text)
		trim(o.text);
	kf_ssh_result_free(&res);
	return o;
}


#define BATCH_MARK "@@k3sforge-doctor@@"

/* Runs every command in one exec, each as `( cmd ) 2>&1` followed by a mark line with its exit
 * status, and keeps each one's output for run(). */
static int batch_run(struct job *j, struct kf_ssh *s, const char *const *cmds, size_t n,
		     int timeout_ms)
{
	struct kf_buf script;
	struct out all;
	const char *p;

	kf_buf_init(&script, 256 * 1024);
	for (size_t i = 0; i < n; i++)
		kf_buf_printf(&script, "( %s ) 2>&1; printf '\\n%s %zu %%d\\n' $?\n", cmds[i],
			      BATCH_MARK, i);
	all = run_one(s, kf_buf_str(&script), timeout_ms);
	kf_buf_free(&script);
	if (!(j->batch_cmd = calloc(n + 1, sizeof(char *))) ||
	    !(j->batch_out = calloc(n + 1, sizeof(struct out)))) {
		free(all.text);
		return KF_ENOMEM;
	}
	j->n_batch = n;
	for (size_t i = 0; i < n; i++) {
		j->batch_cmd[i] = strdup(cmds[i]);
		j->batch_out[i].status = -1;
	}
	p = all.text ? all.text : "";
	while (*p) {
		const char *mark = strstr(p, BATCH_MARK " ");
		size_t idx;
		int rc;
		if (!mark || sscanf(mark + strlen(BATCH_MARK), " %zu %d", &idx, &rc) != 2)
			break;
		if (idx < n && !j->batch_out[idx].text) {
			j->batch_out[idx].status = rc;
			j->batch_out[idx].text = strndup(p, (size_t)(mark - p));
			if (j->batch_out[idx].text) {
				char *t = j->batch_out[idx].text;
				size_t lead = strspn(t, "\n");
				memmove(t, t + lead, strlen(t + lead) + 1);
				trim(t);
			}
		}
		p = mark + strcspn(mark, "\n");
		if (*p)
			p++;
	}
	free(all.text);
	return 0;
}

/* A command's result: from the batch when it ran there (a copy), else run now. */
static struct out run_j(struct job *j, struct kf_ssh *s, const char *cmd, int timeout_ms)
{
	for (size_t i = 0; i < j->n_batch; i++)
		if (j->batch_cmd[i] && strcmp(j->batch_cmd[i], cmd) == 0 && j->batch_out[i].status >= 0) {
			struct out o = { j->batch_out[i].status, strdup(j->batch_out[i].text) };
			return o;
		}
	return run_one(s, cmd, timeout_ms);
}

static void batch_free(struct job *j)
{
	for (size_t i = 0; i < j->n_batch; i++) {
		free(j->batch_cmd[i]);
		free(j->batch_out[i].text);
	}
	free(j->batch_cmd);
	free(j->batch_out);
	j->batch_cmd = NULL;
	j->batch_out = NULL;
	j->n_batch = 0;
}

static void capture(struct job *j, const char *file, const char *text)
{
	char name[256];

	if (!j->o->capture || !text)
		return;
	snprintf(name, sizeof(name), "nodes/%s/%s", j->n->name, file);
	if (kf_captures_add(&j->caps, name, text, strlen(text)) != 0)
		j->rc = KF_ENOMEM;
}

static void add(struct job *j, const char *check, enum kf_check_status st, const char *fix,
		const char *summary)
{
	char id[160];

	snprintf(id, sizeof(id), "%s/%s", j->n->name, check);
	if (kf_findings_add(&j->f, id, st, fix, "%s: %s", j->n->name, summary) != 0)
		j->rc = KF_ENOMEM;
}

/* The last n lines of text (borrowed pointer into text). */
static const char *tail_lines(const char *text, int n)
{
	const char *p = text + strlen(text);

	while (p > text && n > 0) {
		p--;
		if (*p == '\n' && --n == 0)
			return p + 1;
	}
	return text;
}

/* "docker.io/library/x:tag" form of a reference, for comparing lists. */
static void normalise(const char *ref, char *out, size_t n)
{
	const char *slash = strchr(ref, '/');
	bool has_registry = slash && (memchr(ref, '.', (size_t)(slash - ref)) ||
				      memchr(ref, ':', (size_t)(slash - ref)) ||
				      strncmp(ref, "localhost/", 10) == 0);

	if (has_registry)
		snprintf(out, n, "%s", ref);
	else if (slash)
		snprintf(out, n, "docker.io/%s", ref);
	else
		snprintf(out, n, "docker.io/library/%s", ref);
}

static void check_images(struct job *j, struct kf_ssh *s, int tmo, const char *ssh_cmd)
{
	struct out o = run_j(j, s, "sudo -n k3s ctr images ls -q", tmo);
	struct kf_buf missing, fix;
	size_t n_missing = 0;

	kf_buf_init(&missing, 16 * 1024);
	kf_buf_init(&fix, 4096);
	capture(j, "containerd-images.txt", o.text);
	if (o.status != 0) {
		kf_buf_printf(&fix, "%s sudo systemctl status %s", ssh_cmd,
			      kf_role_k3s_unit(j->n->role));
		add(j, "images", KF_CHECK_FAIL, kf_buf_str(&fix),
		    "containerd's images could not be listed (k3s not running?): without them no "
		    "pod starts offline");
		goto out;
	}
	for (size_t i = 0; i < j->n_expected; i++) {
		char want[512], line[512];
		bool found = false;
		normalise(j->expected[i], want, sizeof(want));
		for (const char *p = o.text; p && *p && !found;) {
			size_t len = strcspn(p, "\n");
			char have[512];
			snprintf(line, sizeof(line), "%.*s", (int)(len < 511 ? len : 511), p);
			trim(line);
			normalise(line, have, sizeof(have));
			found = strcmp(have, want) == 0;
			p += len + (p[len] ? 1 : 0);
		}
		if (!found) {
			kf_buf_printf(&missing, "%s%s", n_missing ? ", " : "", j->expected[i]);
			n_missing++;
		}
	}
	if (n_missing) {
		char summary[2048];
		kf_buf_printf(&fix, "%s sudo k3s ctr images import "
				    "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst",
			      ssh_cmd);
		snprintf(summary, sizeof(summary),
			 "%zu of %zu images missing in containerd (%s): pods using them cannot start "
			 "without the registry",
			 n_missing, j->n_expected, kf_buf_str(&missing));
		add(j, "images", KF_CHECK_FAIL, kf_buf_str(&fix), summary);
	} else {
		char summary[128];
		snprintf(summary, sizeof(summary), "all %zu images of k3s-images.txt are in containerd",
			 j->n_expected);
		add(j, "images", KF_CHECK_OK, NULL, summary);
	}
out:
	kf_buf_free(&missing);
	kf_buf_free(&fix);
	free(o.text);
}

/* The command listing which markers exist. */
static void markers_cmd(struct kf_buf *c, const struct kf_node *n)
{
	kf_buf_puts(c, "for f in");
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
		kf_buf_printf(c, " " KF_MARKER_DIR "/%s", markers[i].name);
	kf_buf_printf(c, " %s; do test -e \"$f\" && echo \"$f\"; done; true",
		      kf_role_marker(n->role));
}

/* The registry probe from inside the guest, with the lab CA. */
static void curl_cmd(char *cmd, size_t len, const char *url)
{
	snprintf(cmd, len, "curl -sS -o /dev/null -w '%%{http_code}' --max-time 5 --cacert %s %s 2>&1",
		 KF_GUEST_CA_PATH, url);
}

static void registry_url(char *url, size_t len, const struct kf_config *cfg)
{
	char *hp = kf_registry_hostport(cfg);

	snprintf(url, len, "https://%s/v2/", hp ? hp : "");
	free(hp);
}

static void *node_main(void *arg)
{
	struct job *j = arg;
	const struct kf_node *n = j->n;
	const struct kf_config *cfg = j->cfg;
	int tmo = j->o->timeout_ms > 0 ? j->o->timeout_ms : 5000;
	const char *unit = kf_role_unit(n->role);
	enum kf_ssh_fail why = KF_SSH_OK;
	struct kf_ssh *s = NULL;
	struct kf_err e;
	char ssh_cmd[1024], cmd[1024], fix[4096], summary[4096];
	struct out o;

	{
		/* A command the operator can paste: paths quoted (an output dir with a space or a
		 * Windows path), only k3sforge's key offered (an agent's keys would be tried
		 * first and can exhaust MaxAuthTries), the pinned host key required. */
		char *key = kf_path_join(j->o->out_dir, KF_OUT_SSH_KEY);
		char *kh = kf_path_join(j->o->out_dir, KF_OUT_KNOWN_HOSTS);
		char *qkey = key ? kf_shell_quote(key) : NULL;
		char *qkh = kh ? kf_shell_quote(kh) : NULL;
		snprintf(ssh_cmd, sizeof(ssh_cmd),
			 "ssh -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s "
			 "-o StrictHostKeyChecking=yes -p %d %s@%s",
			 qkey ? qkey : "<out>/ssh/id_ed25519", qkh ? qkh : "<out>/ssh/known_hosts",
			 n->ssh_port ? n->ssh_port : 22, cfg->guest.user,
			 n->ssh_host ? n->ssh_host : n->ip);
		free(key);
		free(kh);
		free(qkey);
		free(qkh);
	}
	kf_err_clear(&e);
	if (kf_node_connect(&s, cfg, n, j->o->out_dir, tmo, &why, &e) != 0) {
		snprintf(summary, sizeof(summary),
			 "SSH not reachable (%s): %s; no deep check could run", kf_ssh_fail_name(why),
			 e.msg);
		add(j, "ssh", KF_CHECK_FAIL,
		    why == KF_SSH_HOSTKEY ? "the VM is not the one k3sforge installed: `k3sforge "
					    "destroy` and `k3sforge up` rebuild it"
					  : "`k3sforge status` shows whether the VM is on; `k3sforge "
					    "wait` waits for SSH",
		    summary);
		return NULL;
	}
	add(j, "ssh", KF_CHECK_OK, NULL, "SSH answers with the pinned host key");
	{
		/* One round trip for every command below (each finding still names its own). */
		char c_res[256], c_jr[256], c_curl[1024], c_dns[256], url[256];
		const char *cmds[16];
		struct kf_buf mk;
		size_t nc = 0;

		kf_buf_init(&mk, 4096);
		markers_cmd(&mk, n);
		registry_url(url, sizeof(url), cfg);
		curl_cmd(c_curl, sizeof(c_curl), url);
		snprintf(c_res, sizeof(c_res), "systemctl show -p Result --value %s.service", unit);
		snprintf(c_jr, sizeof(c_jr), "sudo -n journalctl -u %s.service -n 200 --no-pager", unit);
		snprintf(c_dns, sizeof(c_dns), "getent hosts %s", n->name);
		cmds[nc++] = "cloud-init status --long";
		cmds[nc++] = c_res;
		cmds[nc++] = c_jr;
		cmds[nc++] = kf_buf_str(&mk);
		if (j->n_expected)
			cmds[nc++] = "sudo -n k3s ctr images ls -q";
		cmds[nc++] = "systemctl show -p Result --value " KF_UNIT_SYNC_TIME ".service";
		cmds[nc++] = c_curl;
		cmds[nc++] = c_dns;
		if (j->o->capture) {
			cmds[nc++] = "sudo -n tail -n 500 /var/log/cloud-init-output.log";
			cmds[nc++] = "sudo -n tail -n 500 /var/log/cloud-init.log";
			cmds[nc++] = "sudo -n journalctl -n 300 --no-pager";
		}
		if (batch_run(j, s, cmds, nc, tmo * 3 + 6000) != 0)
			j->rc = KF_ENOMEM;
		kf_buf_free(&mk);
	}

	/* cloud-init */
	o = run_j(j, s, "cloud-init status --long", tmo);
	capture(j, "cloud-init-status.txt", o.text);
	snprintf(fix, sizeof(fix), "%s sudo tail -n 100 /var/log/cloud-init-output.log", ssh_cmd);
	if (o.text && strstr(o.text, "status: done")) {
		add(j, "cloud-init", KF_CHECK_OK, NULL, "cloud-init finished (status: done)");
	} else if (o.text && strstr(o.text, "status: running")) {
		add(j, "cloud-init", KF_CHECK_WARN, fix,
		    "cloud-init is still running: the node is not prepared yet");
	} else {
		snprintf(summary, sizeof(summary),
			 "cloud-init did not finish cleanly (%s): the node's preparation (keys, CA, "
			 "time sync, k3s units) may be incomplete",
			 o.text && *o.text ? tail_lines(o.text, 3) : "no answer");
		add(j, "cloud-init", KF_CHECK_FAIL, fix, summary);
	}
	free(o.text);

	/* the bootstrap unit */
	snprintf(cmd, sizeof(cmd), "systemctl show -p Result --value %s.service", unit);
	o = run_j(j, s, cmd, tmo);
	{
		struct out logs;
		snprintf(cmd, sizeof(cmd), "sudo -n journalctl -u %s.service -n 200 --no-pager", unit);
		logs = run_j(j, s, cmd, tmo);
		capture(j, "bootstrap-journal.txt", logs.text);
		snprintf(fix, sizeof(fix), "%s sudo journalctl -u %s.service -b; then %s sudo "
					   "systemctl restart %s.service",
			 ssh_cmd, unit, ssh_cmd, unit);
		if (o.status == 0 && o.text && strcmp(o.text, "success") == 0) {
			snprintf(summary, sizeof(summary), "%s.service result: success", unit);
			add(j, "bootstrap", KF_CHECK_OK, NULL, summary);
		} else {
			snprintf(summary, sizeof(summary),
				 "%s.service result: %s — k3s is not bootstrapped, the node does not "
				 "join the cluster; last log lines:\n%s",
				 unit, o.text && *o.text ? o.text : "unknown",
				 logs.text && *logs.text ? tail_lines(logs.text, 5) : "(none)");
			add(j, "bootstrap", KF_CHECK_FAIL, fix, summary);
		}
		free(logs.text);
	}
	free(o.text);

	/* markers */
	{
		struct kf_buf c, missing;
		size_t nm = sizeof(markers) / sizeof(markers[0]);
		kf_buf_init(&c, 4096);
		kf_buf_init(&missing, 4096);
		markers_cmd(&c, n);
		o = run_j(j, s, kf_buf_str(&c), tmo);
		capture(j, "markers.txt", o.text);
		for (size_t i = 0; i <= nm && o.status == 0; i++) {
			char path[128];
			const char *name = i < nm ? markers[i].name : NULL;
			const char *whyt = i < nm ? markers[i].why
						  : "the role's bootstrap never finished: k3s is not "
						    "up with its images";
			bool present = false;
			if (name)
				snprintf(path, sizeof(path), KF_MARKER_DIR "/%s", name);
			else
				snprintf(path, sizeof(path), "%s", kf_role_marker(n->role));
			for (const char *p = o.text; p && *p && !present;) {
				size_t len = strcspn(p, "\n");
				present = len == strlen(path) && strncmp(p, path, len) == 0;
				p += len + (p[len] ? 1 : 0);
			}
			if (present)
				continue;
			kf_buf_printf(&missing, "%s%s", kf_buf_str(&missing)[0] ? ", " : "", path);
			snprintf(summary, sizeof(summary), "marker %s is missing: %s", path, whyt);
			snprintf(fix, sizeof(fix),
				 name ? "%s sudo tail -n 50 /var/log/cloud-init-output.log (node-prep "
					"stops at the failed step)"
				      : "%s sudo journalctl -u %s.service -b",
				 ssh_cmd, unit);
			{
				char check[96];
				snprintf(check, sizeof(check), "marker:%s",
					 name ? name : (n->role == KF_ROLE_MASTER ? "k3s-bootstrap.done"
										  : "k3s-agent-bootstrap.done"));
				add(j, check, KF_CHECK_FAIL, fix, summary);
			}
		}
		if (o.status != 0)
			add(j, "markers", KF_CHECK_WARN, NULL, "the markers could not be listed");
		else if (!kf_buf_str(&missing)[0])
			add(j, "markers", KF_CHECK_OK, NULL, "every marker is present");
		free(o.text);
		kf_buf_free(&c);
		kf_buf_free(&missing);
	}

	/* containerd's images */
	if (j->n_expected)
		check_images(j, s, tmo, ssh_cmd);

	/* sync-time.service */
	o = run_j(j, s, "systemctl show -p Result --value " KF_UNIT_SYNC_TIME ".service", tmo);
	snprintf(fix, sizeof(fix), "%s sudo systemctl restart sync-time.service && %s sudo "
				   "journalctl -u sync-time.service -n 20",
		 ssh_cmd, ssh_cmd);
	if (o.status == 0 && o.text && strcmp(o.text, "success") == 0) {
		add(j, "sync-time", KF_CHECK_OK, NULL, "sync-time.service result: success");
	} else {
		snprintf(summary, sizeof(summary),
			 "sync-time.service result: %s — the clock may be wrong, so fresh certificates "
			 "look not yet valid and TLS to the registry fails",
			 o.text && *o.text ? o.text : "unknown");
		add(j, "sync-time", KF_CHECK_FAIL, fix, summary);
	}
	free(o.text);

	/* the guest's clock against this host's (the seeds' skew: TLS and k3s certificates) */
	{
		double skew = 0, mag;
		struct kf_err ce;

		if (kf_node_clock_skew(s, tmo, &skew, &ce) == 0) {
			mag = skew < 0 ? -skew : skew;
			snprintf(summary, sizeof(summary), "clock %+.1f s against this host%s", skew,
				 mag > 60 ? ": certificates look not yet valid or expired, TLS to the "
					    "registry and k3s's own certificates fail" :
				 mag > 2 ? ": k3s and TLS tolerate it, but it grows" : "");
			add(j, "clock", mag > 60 ? KF_CHECK_FAIL : mag > 2 ? KF_CHECK_WARN : KF_CHECK_OK,
			    mag > 2 ? fix : NULL, summary);
		} else {
			snprintf(summary, sizeof(summary), "the clock could not be read (date: %s)",
				 *ce.msg ? ce.msg : "no output");
			add(j, "clock", KF_CHECK_WARN, fix, summary);
		}
	}

	/* the registry, from inside the guest, with the lab CA */
	{
		char url[256];
		registry_url(url, sizeof(url), cfg);
		curl_cmd(cmd, sizeof(cmd), url);
		o = run_j(j, s, cmd, tmo + 6000);
		capture(j, "registry-curl.txt", o.text);
		if (o.status == 0 && o.text && strcmp(o.text, "200") == 0) {
			snprintf(summary, sizeof(summary), "the registry %s answers with the lab CA", url);
			add(j, "registry", KF_CHECK_OK, NULL, summary);
		} else {
			snprintf(summary, sizeof(summary),
				 "the registry %s is not reachable from the guest with the lab CA (%s): "
				 "k3s cannot pull any image",
				 url, o.text && *o.text ? o.text : "no answer");
			snprintf(fix, sizeof(fix),
				 "`k3sforge registry status` on the host; then %s curl -v --cacert %s %s",
				 ssh_cmd, KF_GUEST_CA_PATH, url);
			add(j, "registry", KF_CHECK_FAIL, fix, summary);
		}
		free(o.text);
	}

	/* name resolution: the node's own name (sudo and k3s resolve it) */
	snprintf(cmd, sizeof(cmd), "getent hosts %s", n->name);
	o = run_j(j, s, cmd, tmo);
	if (o.status == 0) {
		add(j, "dns", KF_CHECK_OK, NULL, "the node resolves its own name");
	} else {
		snprintf(summary, sizeof(summary),
			 "the node does not resolve its own name %s: sudo stalls on every call and "
			 "k3s may register a wrong address",
			 n->name);
		snprintf(fix, sizeof(fix), "%s 'echo \"127.0.1.1 %s\" | sudo tee -a /etc/hosts'",
			 ssh_cmd, n->name);
		add(j, "dns", KF_CHECK_WARN, fix, summary);
	}
	free(o.text);

	if (j->o->capture) {
		o = run_j(j, s, "sudo -n tail -n 500 /var/log/cloud-init-output.log", tmo);
		capture(j, "cloud-init-output.log", o.text);
		free(o.text);
		o = run_j(j, s, "sudo -n tail -n 500 /var/log/cloud-init.log", tmo);
		capture(j, "cloud-init.log", o.text);
		free(o.text);
		o = run_j(j, s, "sudo -n journalctl -n 300 --no-pager", tmo);
		capture(j, "journal-tail.txt", o.text);
		free(o.text);
	}
	kf_ssh_close(s);
	batch_free(j);
	return NULL;
}

/* From the host: does the lab-facing registry take an anonymous push? (A registry started by
 * an older k3sforge, or another program on the port, would let anyone on the lab network
 * replace the images every node pulls.) Not reachable: left to the nodes' registry check. */
static int check_registry_open(struct kf_findings *out, const struct kf_config *cfg,
			       const char *out_dir)
{
	char addr[300];
	bool accepts = false;
	struct kf_err e;
	char *ca = kf_path_join(out_dir, KF_OUT_CA_CRT);
	bool have_ca = ca && kf_fs_exists(ca);

	free(ca);
	if (!have_ca)
		return 0;
	kf_err_clear(&e);
	if (kf_regserver_lab_accepts_pushes(cfg, out_dir, &accepts, addr, sizeof(addr), &e) != 0)
		return 0;
	if (accepts)
		return kf_findings_add(out, "registry-open", KF_CHECK_FAIL, KF_REGSERVER_OPEN_FIX,
				       "%s: %s took an anonymous upload, so anyone there can replace "
				       "the images every node pulls", KF_REGSERVER_OPEN_FINDING, addr)
		       ? KF_ENOMEM : 0;
	return kf_findings_add(out, "registry-open", KF_CHECK_OK, NULL,
			       "the lab registry %s refuses anonymous pushes (read-only)", addr)
	       ? KF_ENOMEM : 0;
}

static int node_each(void *arg, size_t i)
{
	struct job *jobs = arg;

	node_main(&jobs[i]);
	return jobs[i].rc;
}

int kf_doctor_nodes(struct kf_findings *out, struct kf_captures *caps,
		    const struct kf_config *cfg, const struct kf_doctor_opts *opts)
{
	size_t n = cfg->n_nodes;
	struct job *jobs = calloc(n + 1, sizeof(*jobs));
	char **expected = NULL;
	size_t n_expected = 0;
	struct kf_err e;
	int r = 0;

	if (!jobs) {
		r = KF_ENOMEM;
		goto out;
	}
	if ((r = check_registry_open(out, cfg, opts->out_dir)) != 0)
		goto out;
	if (kf_artifacts_images(&expected, &n_expected, opts->out_dir, &e) != 0) {
		expected = NULL;
		n_expected = 0;
		if (kf_findings_add(out, "images", KF_CHECK_WARN, "`k3sforge prep`",
				    "containerd images not checked: %s", e.msg) != 0) {
			r = KF_ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		jobs[i] = (struct job){ .cfg = cfg, .o = opts, .n = &cfg->nodes[i],
					.expected = expected, .n_expected = n_expected };
	kf_each_node(n, 0, node_each, jobs, NULL);
	for (size_t i = 0; i < n; i++) {
		struct kf_findings *f = &jobs[i].f;
		if (jobs[i].rc)
			r = KF_ENOMEM;
		for (size_t k = 0; k < f->n && !r; k++)
			r = kf_findings_add(out, f->items[k].id, f->items[k].status, f->items[k].fix,
					    "%s", f->items[k].summary);
		for (size_t k = 0; caps && k < jobs[i].caps.n && !r; k++)
			r = kf_captures_add(caps, jobs[i].caps.v[k].name, jobs[i].caps.v[k].text,
					    strlen(jobs[i].caps.v[k].text));
	}
out:
	for (size_t i = 0; jobs && i < n; i++) {
		kf_findings_free(&jobs[i].f);
		kf_captures_free(&jobs[i].caps);
	}
	kf_artifacts_images_free(expected);
	free(jobs);
	return r;
}
