/* The registry port proxy on the Windows side of WSL2 (NAT mode): netsh portproxy + firewall. */
#include "k3sforge/wslproxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/strv.h"

#define MAX_ENTRIES 1024
#define NETSH_TIMEOUT_MS 30000

static bool parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return false;
	v = strtol(s, &end, 10);
	if (*end || v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

/* An address column: IPv4, a host name, or "*" -- printable ASCII without spaces. */
static bool plausible_addr(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr(".-_:*", s[i])))
			return false;
	return true;
}

int kf_wslproxy_parse_show(const char *text, struct kf_portproxy **out, size_t *n,
			   struct kf_err *err)
{
	struct kf_portproxy *v = NULL;
	size_t count = 0, cap = 0;
	const char *p = text ? text : "";

	*out = NULL;
	*n = 0;
	while (*p) {
		size_t len = strcspn(p, "\r\n");
		char line[512], *tok[5], *save = NULL;
		int nt = 0, lp, cp;

		if (len < sizeof(line)) {
			memcpy(line, p, len);
			line[len] = '\0';
			for (char *t = strtok_r(line, " \t", &save); t && nt < 5;
			     t = strtok_r(NULL, " \t", &save))
				tok[nt++] = t;
			if (nt == 4 && plausible_addr(tok[0], sizeof(v->listen_addr)) &&
			    parse_port(tok[1], &lp) && plausible_addr(tok[2], sizeof(v->connect_addr)) &&
			    parse_port(tok[3], &cp) && count < MAX_ENTRIES) {
				if (count == cap) {
					size_t nc = cap ? cap * 2 : 8;
					struct kf_portproxy *nv = realloc(v, nc * sizeof(*nv));
					if (!nv) {
						free(v);
						return kf_err_set(err, KF_ENOMEM, "out of memory");
					}
					v = nv;
					cap = nc;
				}
				snprintf(v[count].listen_addr, sizeof(v[count].listen_addr), "%s", tok[0]);
				v[count].listen_port = lp;
				snprintf(v[count].connect_addr, sizeof(v[count].connect_addr), "%s", tok[2]);
				v[count].connect_port = cp;
				count++;
			}
		}
		p += len;
		while (*p == '\r' || *p == '\n')
			p++;
	}
	*out = v;
	*n = count;
	return 0;
}

enum kf_wslproxy_plan kf_wslproxy_plan(const struct kf_portproxy *entries, size_t n,
				       const char *listen_addr, int listen_port,
				       const char *connect_addr, int connect_port,
				       const struct kf_portproxy **found)
{
	if (found)
		*found = NULL;
	for (size_t i = 0; i < n; i++) {
		if (entries[i].listen_port != listen_port ||
		    strcasecmp(entries[i].listen_addr, listen_addr) != 0)
			continue;
		if (found)
			*found = &entries[i];
		if (strcasecmp(entries[i].connect_addr, connect_addr) == 0 &&
		    entries[i].connect_port == connect_port)
			return KF_WSLPROXY_PRESENT;
		return KF_WSLPROXY_REPLACE;
	}
	return KF_WSLPROXY_ADD;
}

/* A NULL-terminated vector of copies of the given strings (fmt-free: each already formatted). */
static char **vec(const char *const *items)
{
	size_t n = 0;
	char **v;

	while (items[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(items[i]))) {
			kf_argv_free(v);
			return NULL;
		}
	return v;
}

char **kf_wslproxy_argv_show(void)
{
	const char *const a[] = { KF_WIN_NETSH_EXE, "interface", "portproxy", "show", "v4tov4", NULL };
	return vec(a);
}

char **kf_wslproxy_argv_add(const char *listen_addr, int listen_port, const char *connect_addr,
			    int connect_port)
{
	char la[96], lp[32], ca[96], cp[32];

	snprintf(la, sizeof(la), "listenaddress=%s", listen_addr);
	snprintf(lp, sizeof(lp), "listenport=%d", listen_port);
	snprintf(ca, sizeof(ca), "connectaddress=%s", connect_addr);
	snprintf(cp, sizeof(cp), "connectport=%d", connect_port);
	{
		const char *const a[] = { KF_WIN_NETSH_EXE, "interface", "portproxy", "add", "v4tov4",
					  la, lp, ca, cp, NULL };
		return vec(a);
	}
}

char **kf_wslproxy_argv_delete(const char *listen_addr, int listen_port)
{
	char la[96], lp[32];

	snprintf(la, sizeof(la), "listenaddress=%s", listen_addr);
	snprintf(lp, sizeof(lp), "listenport=%d", listen_port);
	{
		const char *const a[] = { KF_WIN_NETSH_EXE, "interface", "portproxy", "delete", "v4tov4",
					  la, lp, NULL };
		return vec(a);
	}
}

char *kf_wslproxy_rule_name(int port)
{
	char *s = NULL;

	if (asprintf(&s, "k3sforge-registry-%d", port) < 0)
		return NULL;
	return s;
}

char **kf_wslproxy_argv_rule_show(int port)
{
	char name[64];

	snprintf(name, sizeof(name), "name=k3sforge-registry-%d", port);
	{
		const char *const a[] = { KF_WIN_NETSH_EXE, "advfirewall", "firewall", "show", "rule",
					  name, NULL };
		return vec(a);
	}
}

char **kf_wslproxy_argv_rule_add(int port)
{
	char name[64], lp[32];

	snprintf(name, sizeof(name), "name=k3sforge-registry-%d", port);
	snprintf(lp, sizeof(lp), "localport=%d", port);
	{
		const char *const a[] = { KF_WIN_NETSH_EXE, "advfirewall", "firewall", "add", "rule", name,
					  "dir=in", "action=allow", "protocol=TCP", lp, NULL };
		return vec(a);
	}
}


char *kf_wslproxy_argv_text(char *const *argv)
{
	struct kf_buf b;

	kf_buf_init(&b, 4096);
	/* What an operator types in an elevated Windows terminal: netsh, not the WSL path. */
	for (size_t i = 0; argv && argv[i]; i++)
		kf_buf_printf(&b, "%s%s", i ? " " : "", i ? argv[i] : "netsh.exe");
	return kf_buf_detach(&b);
}

int kf_wslproxy_wsl_address(char **out, struct kf_err *err)
{
	struct ifaddrs *ifs = NULL;
	char buf[INET_ADDRSTRLEN] = "";

	*out = NULL;
	if (getifaddrs(&ifs) != 0)
		return kf_err_set(err, KF_EIO, "cannot list this system's network interfaces");
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, "eth0") != 0)
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, buf,
			  sizeof(buf));
		break;
	}
	freeifaddrs(ifs);
	if (!buf[0])
		return kf_err_set(err, KF_ENOTFOUND,
				  "WSL has no IPv4 address on eth0: is this WSL2 in NAT mode?");
	*out = strdup(buf);
	return *out ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory");
}

/* Runs netsh; *exit_code gets its status, *out its stdout (caller frees; may be NULL). */
static int netsh(char **argv, int *exit_code, char **out, struct kf_err *err)
{
	struct kf_proc p;
	int r;

	if (out)
		*out = NULL;
	memset(&p, 0, sizeof(p));
	p.argv = (const char *const *)argv;
	p.cwd = KF_WIN_CWD;
	p.timeout_ms = NETSH_TIMEOUT_MS;
	if ((r = kf_proc_run(&p, err)) != 0) {
		kf_proc_free(&p);
		return kf_err_wrap(err, "cannot run %s (is WSL interop on?)", KF_WIN_NETSH_EXE);
	}
	*exit_code = p.signaled ? -1 : p.exit_code;
	if (out)
		*out = kf_buf_detach(&p.out);
	kf_proc_free(&p);
	return 0;
}

static int need_admin(struct kf_err *err, char **argv_a, char **argv_b, const char *what,
		      const char *said)
{
	char *a = kf_wslproxy_argv_text(argv_a), *b = argv_b ? kf_wslproxy_argv_text(argv_b) : NULL;
	int r = kf_err_set(err, KF_EFAIL,
			   "%s failed (%s): run k3sforge from a terminal opened as administrator, or "
			   "run once in an elevated PowerShell: %s%s%s",
			   what, said && *said ? said : "netsh refused", a ? a : "", b ? "; " : "",
			   b ? b : "");
	free(a);
	free(b);
	return r;
}

/* The last non-empty line of netsh's answer (its error message), trimmed, for messages. */
static void last_line(const char *text, char *out, size_t n)
{
	const char *p = text ? text : "", *best = "";
	size_t bl = 0;

	while (*p) {
		size_t len = strcspn(p, "\r\n"), s = 0;
		while (s < len && isspace((unsigned char)p[s]))
			s++;
		if (len > s) {
			best = p + s;
			bl = len - s;
		}
		p += len;
		while (*p == '\r' || *p == '\n')
			p++;
	}
	snprintf(out, n, "%.*s", (int)(bl < n ? bl : n - 1), best);
}

static int table(struct kf_portproxy **entries, size_t *n, struct kf_err *err)
{
	char **argv = kf_wslproxy_argv_show(), *text = NULL;
	int code = 0, r;

	if (!argv)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = netsh(argv, &code, &text, err);
	if (r == 0 && code != 0) {
		char said[256];
		last_line(text, said, sizeof(said));
		r = kf_err_set(err, KF_EFAIL, "netsh interface portproxy show v4tov4 exited %d: %s",
			       code, said);
	}
	if (r == 0)
		r = kf_wslproxy_parse_show(text, entries, n, err);
	free(text);
	kf_argv_free(argv);
	return r;
}

static int run_or_explain(char **argv, char **argv_next, const char *what, struct kf_err *err)
{
	char *text = NULL, said[256];
	int code = 0, r = netsh(argv, &code, &text, err);

	if (r == 0 && code != 0) {
		last_line(text, said, sizeof(said));
		r = need_admin(err, argv, argv_next, what, said);
	}
	free(text);
	return r;
}

int kf_wslproxy_ensure(const char *listen_addr, int listen_port, int connect_port,
		       struct kf_wslproxy_report *rep, struct kf_err *err)
{
	struct kf_portproxy *entries = NULL;
	const struct kf_portproxy *found = NULL;
	char *src = NULL, *wsl = NULL;
	char **add = NULL, **del = NULL, **rshow = NULL, **radd = NULL;
	size_t n = 0;
	int r = 0, code = 0;

	memset(rep, 0, sizeof(*rep));
	rep->mode = kf_wsl_networking_mode(&src);
	if (rep->mode == KF_WSL_NONE)
		goto out;
	if (rep->mode == KF_WSL_MIRRORED) {
		kf_info("WSL networking is mirrored (%s): the guests reach the registry at %s:%d "
			"directly; no port proxy is set up", src ? src : "?", listen_addr, listen_port);
		goto out;
	}
	if ((r = kf_wslproxy_wsl_address(&wsl, err)) != 0)
		goto out;
	snprintf(rep->connect_addr, sizeof(rep->connect_addr), "%s", wsl);
	if ((r = table(&entries, &n, err)) != 0)
		goto out;
	rep->plan = kf_wslproxy_plan(entries, n, listen_addr, listen_port, wsl, connect_port, &found);
	add = kf_wslproxy_argv_add(listen_addr, listen_port, wsl, connect_port);
	del = kf_wslproxy_argv_delete(listen_addr, listen_port);
	rshow = kf_wslproxy_argv_rule_show(listen_port);
	radd = kf_wslproxy_argv_rule_add(listen_port);
	if (!add || !del || !rshow || !radd) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	switch (rep->plan) {
	case KF_WSLPROXY_PRESENT:
		kf_info("port proxy %s:%d -> WSL %s:%d already in place", listen_addr, listen_port, wsl,
			connect_port);
		break;
	case KF_WSLPROXY_REPLACE:
		kf_info("port proxy %s:%d points at %s:%d, but WSL is now at %s: replacing it",
			listen_addr, listen_port, found->connect_addr, found->connect_port, wsl);
		if ((r = run_or_explain(del, add, "removing the old port proxy", err)) != 0)
			goto out;
		/* fall through */
	case KF_WSLPROXY_ADD:
		if ((r = run_or_explain(add, NULL, "adding the registry port proxy", err)) != 0)
			goto out;
		kf_ok("port proxy %s:%d -> WSL %s:%d added", listen_addr, listen_port, wsl,
		      connect_port);
		break;
	}
	/* The firewall rule: `show rule` exits non-zero when no rule has that name. */
	if ((r = netsh(rshow, &code, NULL, err)) != 0)
		goto out;
	if (code != 0) {
		if ((r = run_or_explain(radd, NULL, "adding the registry firewall rule", err)) != 0)
			goto out;
		rep->rule_added = true;
		kf_ok("Windows firewall: TCP %d allowed in (rule k3sforge-registry-%d)", listen_port,
		      listen_port);
	}
out:
	free(entries);
	free(src);
	free(wsl);
	kf_argv_free(add);
	kf_argv_free(del);
	kf_argv_free(rshow);
	kf_argv_free(radd);
	return r;
}

int kf_wslproxy_check(const char *listen_addr, int listen_port, int connect_port,
		      struct kf_err *err)
{
	struct kf_portproxy *entries = NULL;
	const struct kf_portproxy *found = NULL;
	char *wsl = NULL, *cmd = NULL;
	char **add = NULL;
	size_t n = 0;
	int r;

	if ((r = kf_wslproxy_wsl_address(&wsl, err)) != 0)
		return r;
	if ((r = table(&entries, &n, err)) != 0)
		goto out;
	add = kf_wslproxy_argv_add(listen_addr, listen_port, wsl, connect_port);
	cmd = add ? kf_wslproxy_argv_text(add) : NULL;
	switch (kf_wslproxy_plan(entries, n, listen_addr, listen_port, wsl, connect_port, &found)) {
	case KF_WSLPROXY_PRESENT:
		break;
	case KF_WSLPROXY_ADD:
		r = kf_err_set(err, KF_ENOTFOUND,
			       "no port proxy for %s:%d: the guests cannot reach the registry in WSL; "
			       "run `k3sforge prep` as administrator, or elevated: %s",
			       listen_addr, listen_port, cmd ? cmd : "");
		break;
	case KF_WSLPROXY_REPLACE:
		r = kf_err_set(err, KF_ENOTFOUND,
			       "the port proxy for %s:%d points at %s:%d but WSL is now at %s (its "
			       "address changes when WSL restarts); run `k3sforge prep` as "
			       "administrator to update it",
			       listen_addr, listen_port, found->connect_addr, found->connect_port, wsl);
		break;
	}
out:
	free(entries);
	free(wsl);
	free(cmd);
	kf_argv_free(add);
	return r;
}
