/* Windows glue for a registry that runs inside WSL2. In WSL's NAT networking mode the VMware
 * guests (on the host-only network, e.g. 192.168.6.0/24) reach Windows at the registry IP, but
 * the registry listens inside WSL's own NAT network: Windows must forward <registry ip>:<port>
 * to WSL's eth0 address (`netsh interface portproxy add v4tov4`) and let the port in through its
 * firewall. In mirrored mode WSL shares Windows' addresses and nothing is needed. Every call to
 * netsh.exe goes through kf_proc (argv, no shell); the argv and the parsing of netsh's output
 * are separate functions so they can be tested where Windows is absent. */
#ifndef K3SFORGE_WSLPROXY_H
#define K3SFORGE_WSLPROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/err.h"
#include "k3sforge/platform_wsl.h" /* netsh.exe, the networking mode */


/* One `v4tov4` port proxy entry. */
struct kf_portproxy {
	char listen_addr[64];
	int listen_port;
	char connect_addr[64];
	int connect_port;
};

/* Parses `netsh interface portproxy show v4tov4` output: every data line "<addr> <port> <addr>
 * <port>" (headers in any language, CRLF, and the console's code page are ignored). *out gets
 * *n entries (caller frees; NULL when none). Returns 0, or KF_ENOMEM. At most 1024 entries. */
int kf_wslproxy_parse_show(const char *text, struct kf_portproxy **out, size_t *n,
			   struct kf_err *err);

/* What the port proxy table needs for listen_addr:port → connect_addr:port. */
enum kf_wslproxy_plan {
	KF_WSLPROXY_PRESENT = 0,  /* the entry exists and points at connect_addr */
	KF_WSLPROXY_ADD,          /* no entry for listen_addr:port */
	KF_WSLPROXY_REPLACE,      /* an entry exists but points elsewhere (WSL's address changed) */
};
enum kf_wslproxy_plan kf_wslproxy_plan(const struct kf_portproxy *entries, size_t n,
				       const char *listen_addr, int listen_port,
				       const char *connect_addr, int connect_port,
				       const struct kf_portproxy **found);

/* The netsh argv vectors (NULL-terminated; free with kf_argv_free, strv.h). netsh is
 * KF_WIN_NETSH_EXE; each key=value is one argument, so no quoting is involved. */
char **kf_wslproxy_argv_show(void);
char **kf_wslproxy_argv_add(const char *listen_addr, int listen_port, const char *connect_addr,
			    int connect_port);
char **kf_wslproxy_argv_delete(const char *listen_addr, int listen_port);
/* The firewall rule, named by kf_wslproxy_rule_name (caller frees): show and add. */
char *kf_wslproxy_rule_name(int port);
char **kf_wslproxy_argv_rule_show(int port);
char **kf_wslproxy_argv_rule_add(int port);
/* argv as one line for messages (what to run by hand in an elevated terminal; caller frees). */
char *kf_wslproxy_argv_text(char *const *argv);

/* WSL's own IPv4 address on its NAT network (eth0), as a dotted quad (caller frees). */
int kf_wslproxy_wsl_address(char **out, struct kf_err *err);

/* What kf_wslproxy_ensure did. */
struct kf_wslproxy_report {
	enum kf_wsl_netmode mode;
	enum kf_wslproxy_plan plan;  /* with NAT: what the table needed */
	bool rule_added;             /* the firewall rule was missing and was added */
	char connect_addr[64];       /* WSL's address the proxy points at */
};

/* prep on WSL: in NAT mode makes sure <listen_addr>:<port> → <WSL eth0>:<connect_port> exists
 * (show → compare → add, or delete + add when it points elsewhere) and the firewall lets the
 * port in; in mirrored mode (and off WSL) does nothing. Needs Windows administrator rights when
 * something must change: the message then names the exact commands to run elevated. */
int kf_wslproxy_ensure(const char *listen_addr, int listen_port, int connect_port,
		       struct kf_wslproxy_report *rep, struct kf_err *err);
/* doctor: is the port proxy there and pointing at WSL's current address? 0 = yes; otherwise an
 * error (KF_ENOTFOUND: missing or stale) whose message says what is wrong and what to run. */
int kf_wslproxy_check(const char *listen_addr, int listen_port, int connect_port,
		      struct kf_err *err);

#endif
