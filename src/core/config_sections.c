/* k3sforge.yaml, section loaders: one function per top-level key (cluster, k3s, network,
 * registry, nodes, images, paths, vmware, guest, addons, timeouts) that checks the section's
 * keys and lays its values over the defaults in struct kf_config, using the field helpers
 * (config_load.c) and value checks (config_values.c). The images section also reads the image
 * list files it names, line by line. Checks that need more than one section wait for
 * config_checks.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config_internal.h"
#include "k3sforge/fs.h"
#include "k3sforge/imageref.h"

/* ------------------------------------------------------------------------------------------ */
/* Sections                                                                                     */

void cfg_load_cluster(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "name" };

	if (!cfg_want_map(l, m, "cluster"))
		return;
	cfg_check_keys(l, m, "cluster", keys, 1);
	cfg_field_str(l, m, "name", "cluster.name", &l->cfg->cluster_name, false, cfg_check_cluster_name);
}

void cfg_load_k3s(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "version", "release_url", "install_script_url",
					    "install_script_sha256", "disable", "pause_image" };
	struct kf_config *c = l->cfg;

	if (!cfg_want_map(l, m, "k3s"))
		return;
	cfg_check_keys(l, m, "k3s", keys, 6);
	cfg_field_str(l, m, "version", "k3s.version", &c->k3s.version, false, cfg_check_k3s_version);
	cfg_field_str(l, m, "release_url", "k3s.release_url", &c->k3s.release_url, false, cfg_check_url);
	cfg_field_str(l, m, "install_script_url", "k3s.install_script_url", &c->k3s.install_script_url,
		  false, cfg_check_url);
	cfg_field_str(l, m, "install_script_sha256", "k3s.install_script_sha256",
		  &c->k3s.install_script_sha256, true, cfg_check_sha256);
	cfg_field_strlist(l, m, "disable", "k3s.disable", &c->k3s.disable, &c->k3s.n_disable,
		      cfg_check_disable);
	l->y_pause = cfg_field_str(l, m, "pause_image", "k3s.pause_image", &c->k3s.pause_image, true,
			       cfg_check_image);
}

void cfg_load_network(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "vmnet", "subnet", "gateway", "dns" };
	struct kf_config *c = l->cfg;
	const struct ynode *v;

	if (!cfg_want_map(l, m, "network"))
		return;
	cfg_check_keys(l, m, "network", keys, 4);
	cfg_field_str(l, m, "vmnet", "network.vmnet", &c->network.vmnet, false, cfg_check_vmnet);
	if ((v = cfg_map_get(m, "subnet")) != NULL) {
		const char *s = cfg_scalar(l, v, "network.subnet", "a CIDR like 192.168.6.0/24");
		l->subnet_ok = false;
		l->y_subnet = v;
		if (s) {
			const char *slash = strchr(s, '/');
			char ip[32];
			uint32_t a;
			long pfx;
			if (!slash || (size_t)(slash - s) >= sizeof(ip)) {
				PROB(l, v, "network.subnet '%s' is not a CIDR like 192.168.6.0/24",
				     SV(s));
			} else {
				memcpy(ip, s, (size_t)(slash - s));
				ip[slash - s] = '\0';
				if (!cfg_parse_ipv4(ip, &a) || !cfg_parse_long(slash + 1, &pfx) ||
				    !isdigit((unsigned char)slash[1])) {
					PROB(l, v, "network.subnet '%s' is not a CIDR like "
						   "192.168.6.0/24", SV(s));
				} else if (pfx < 8 || pfx > 29) {
					PROB(l, v, "network.subnet %s: prefix length /%ld is out of "
						   "range /8../29", SV(s), pfx);
				} else if (a & ~cfg_prefix_mask((int)pfx)) {
					char net[16];
					cfg_fmt_ipv4(net, a & cfg_prefix_mask((int)pfx));
					PROB(l, v, "network.subnet %s has host bits set (did you mean "
						   "%s/%ld?)", SV(s), net, pfx);
				} else {
					char *d = cfg_xstrdup(l, s);
					if (d) {
						free(c->network.subnet);
						c->network.subnet = d;
						c->network.subnet_addr = a;
						c->network.prefix = (int)pfx;
						l->subnet_ok = true;
					}
				}
			}
		}
	}
	if (cfg_map_get(m, "gateway")) {
		l->y_gateway = cfg_map_get(m, "gateway");
		l->gateway_ok = cfg_field_str(l, m, "gateway", "network.gateway", &c->network.gateway,
					  false, cfg_check_ip) != NULL;
	}
	if (cfg_map_get(m, "dns")) {
		l->y_dns = cfg_map_get(m, "dns");
		cfg_field_strlist(l, m, "dns", "network.dns", &c->network.dns, &c->network.n_dns,
			      cfg_check_ip);
		if (c->network.n_dns > 8)
			PROB(l, l->y_dns, "network.dns has %zu servers; at most 8 are used",
			     c->network.n_dns);
	}
}

void cfg_load_registry(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "host_ip", "port", "storage_dir", "server", "binary",
					    "listen", "extra_sans", "mirrors" };
	struct kf_config *c = l->cfg;

	if (!cfg_want_map(l, m, "registry"))
		return;
	cfg_check_keys(l, m, "registry", keys, 8);
	if (cfg_map_get(m, "host_ip")) {
		l->y_reg_ip = cfg_map_get(m, "host_ip");
		l->reg_ip_ok = cfg_field_str(l, m, "host_ip", "registry.host_ip", &c->registry.host_ip,
					 false, cfg_check_ip) != NULL;
	}
	cfg_field_int(l, m, "port", "registry.port", &c->registry.port, 1, 65535);
	if (cfg_field_str(l, m, "storage_dir", "registry.storage_dir", &c->registry.storage_dir, true,
		      cfg_check_path))
		cfg_resolve_in_place(l, &c->registry.storage_dir);
	cfg_field_str(l, m, "server", "registry.server", &c->registry.server, false, cfg_check_server);
	if (cfg_field_str(l, m, "binary", "registry.binary", &c->registry.binary, true, cfg_check_path) &&
	    strchr(c->registry.binary, '/'))
		cfg_resolve_in_place(l, &c->registry.binary);
	cfg_field_str(l, m, "listen", "registry.listen", &c->registry.listen, true, cfg_check_listen);
	cfg_field_strlist(l, m, "extra_sans", "registry.extra_sans", &c->registry.extra_sans,
		      &c->registry.n_extra_sans, cfg_check_san);
	cfg_field_strlist(l, m, "mirrors", "registry.mirrors", &c->registry.mirrors,
		      &c->registry.n_mirrors, cfg_check_registry_host);
}

static void load_node(struct ld *l, const struct ynode *m, size_t i, struct kf_node *n,
		      struct node_pos *np)
{
	static const char *const keys[] = { "name", "role", "ip", "cpus", "memory", "disk", "mac",
					    "ssh" };
	static const struct unit mem_units[] = { { "", 1 }, { "MiB", 1 }, { "M", 1 },
						 { "GiB", 1024 }, { "G", 1024 }, { NULL, 0 } };
	static const struct unit disk_units[] = { { "", 1 }, { "GiB", 1 }, { "G", 1 },
						  { "TiB", 1024 }, { "T", 1024 }, { NULL, 0 } };
	char path[96], base[32];
	const struct ynode *v;
	char *role = NULL;
	long sz;

	n->cpus = 2;
	n->memory_mb = 4096;
	n->disk_gb = 40;
	n->ssh_port = 22;
	n->role = KF_ROLE_WORKER;
	n->line = m->line;
	np->item = m;
	snprintf(base, sizeof(base), "nodes[%zu]", i);
	if (m->kind != YN_MAP) {
		l->nodes_bad = true;
		PROB(l, m, "%s must be a mapping with name:, role:, ip: ..., not %s", base,
		     cfg_kind_name(m));
		return;
	}
	cfg_check_keys(l, m, base, keys, 8);
	snprintf(path, sizeof(path), "%s.name", base);
	np->name = cfg_field_str(l, m, "name", path, &n->name, false, cfg_check_node_name);
	snprintf(path, sizeof(path), "%s.role", base);
	if (cfg_field_str(l, m, "role", path, &role, false, cfg_check_role))
		n->role = strcmp(role, "master") == 0 ? KF_ROLE_MASTER : KF_ROLE_WORKER;
	else if (cfg_map_get(m, "role"))
		l->nodes_bad = true;
	free(role);
	snprintf(path, sizeof(path), "%s.ip", base);
	np->ip = cfg_field_str(l, m, "ip", path, &n->ip, false, cfg_check_ip);
	snprintf(path, sizeof(path), "%s.cpus", base);
	cfg_field_int(l, m, "cpus", path, &n->cpus, 1, 64);
	snprintf(path, sizeof(path), "%s.memory", base);
	if ((v = cfg_map_get(m, "memory")) && cfg_scalar(l, v, path, "a size like 4096 or 4GiB")) {
		if (!cfg_parse_size(v->str, mem_units, &sz))
			PROB(l, v, "%s '%s' is not a size: use MiB (4096), or 4096MiB, 4GiB", path,
			     SV(v->str));
		else if (sz < 1024 || sz > 262144)
			PROB(l, v, "%s %ld MiB is out of range 1024..262144 MiB", path, sz);
		else if (sz % 4 != 0) /* VMware's memsize rule: gns3-server
				       * controller/gns3vm/vmware_gns3_vm.py:68-70 */
			PROB(l, v, "%s %ld MiB is not a multiple of 4 MiB, which VMware requires for "
			     "memsize: use %ld or %ld", path, sz, sz - sz % 4, sz - sz % 4 + 4);
		else
			n->memory_mb = (int)sz;
	}
	snprintf(path, sizeof(path), "%s.disk", base);
	if ((v = cfg_map_get(m, "disk")) && cfg_scalar(l, v, path, "a size like 40 or 40GiB")) {
		if (!cfg_parse_size(v->str, disk_units, &sz))
			PROB(l, v, "%s '%s' is not a size: use GiB (40), or 40GiB, 1TiB", path,
			     SV(v->str));
		else if (sz < 10 || sz > 4096)
			PROB(l, v, "%s %ld GiB is out of range 10..4096 GiB", path, sz);
		else
			n->disk_gb = (int)sz;
	}
	snprintf(path, sizeof(path), "%s.mac", base);
	np->mac = cfg_field_str(l, m, "mac", path, &n->mac, true, cfg_check_mac);
	if (np->mac && n->mac)
		for (char *c = n->mac; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	snprintf(path, sizeof(path), "%s.ssh", base);
	if ((np->ssh = cfg_field_str(l, m, "ssh", path, NULL, true, cfg_check_ssh)) != NULL) {
		char host[256];
		int port;
		cfg_parse_hostport(np->ssh->str, host, sizeof(host), &port);
		free(n->ssh_host);
		n->ssh_host = cfg_xstrdup(l, host);
		n->ssh_port = port > 0 ? port : 22;
	}
	if (!cfg_map_get(m, "name"))
		PROB(l, m, "%s has no name; every node needs name: and ip:", base);
	if (!cfg_map_get(m, "ip"))
		PROB(l, m, "%s has no ip; every node needs name: and ip:", base);
}

static void free_nodes(struct kf_config *c)
{
	for (size_t i = 0; c->nodes && i < c->n_nodes; i++) {
		free(c->nodes[i].name);
		free(c->nodes[i].ip);
		free(c->nodes[i].mac);
		free(c->nodes[i].ssh_host);
	}
	free(c->nodes);
	c->nodes = NULL;
	c->n_nodes = 0;
}

void cfg_load_nodes(struct ld *l, const struct ynode *y)
{
	struct kf_config *c = l->cfg;

	l->y_nodes = y;
	if (cfg_ynode_is_null(y) || (y->kind == YN_SEQ && y->n == 0)) {
		PROB(l, y, "nodes is empty: list one master and any number of workers");
		return;
	}
	if (y->kind != YN_SEQ) {
		PROB(l, y, "nodes must be a list of nodes ('- name: ...' entries), not %s",
		     cfg_kind_name(y));
		return;
	}
	if (y->n > KF_CFG_MAX_NODES) {
		PROB(l, y, "nodes has %zu entries; at most %d are supported", y->n,
		     KF_CFG_MAX_NODES);
		return;
	}
	free_nodes(c);
	c->nodes = calloc(y->n, sizeof(struct kf_node));
	l->npos = calloc(y->n, sizeof(struct node_pos));
	if (!c->nodes || !l->npos) {
		l->oom = true;
		return;
	}
	c->n_nodes = y->n;
	for (size_t i = 0; i < y->n; i++)
		load_node(l, y->items[i], i, &c->nodes[i], &l->npos[i]);
}

/* Appends one image reference; false when the image bound is reached (reported once). */
static bool add_ref(struct ld *l, const char *src, size_t sl, const char *dst, size_t dl,
		    const char *file, int line)
{
	struct kf_config *c = l->cfg;
	struct kf_image_ref *r;

	if (c->images.n_refs >= KF_CFG_MAX_IMAGES)
		return false;
	if (c->images.n_refs % 64 == 0) {
		r = realloc(c->images.refs, (c->images.n_refs + 64) * sizeof(*r));
		if (!r) {
			l->oom = true;
			return false;
		}
		c->images.refs = r;
	}
	r = &c->images.refs[c->images.n_refs];
	memset(r, 0, sizeof(*r));
	r->source = strndup(src, sl);
	r->target = dst ? strndup(dst, dl) : NULL;
	r->file = strdup(file);
	r->line = line;
	c->images.n_refs++;
	if (!r->source || (dst && !r->target) || !r->file)
		l->oom = true;
	return true;
}

/* The registry host of an image reference as Docker reads it (docker.io for short names). */
bool cfg_image_is_mirrored(const struct kf_config *c, const char *ref, char *host,
			   size_t size)
{
	char full[600];
	const char *slash;

	cfg_image_full_name(full, sizeof(full), ref);
	slash = strchr(full, '/');
	snprintf(host, size, "%.*s", slash ? (int)(slash - full) : 0, full);
	for (size_t i = 0; i < c->registry.n_mirrors; i++)
		if (strcasecmp(c->registry.mirrors[i], host) == 0)
			return true;
	return false;
}

/* Checks one "source [target]" line; reports at file:line:col+offset. Returns false on a
 * problem. `text` is the line without its comment; `col0` the column of text[0]. */
static bool image_line(struct ld *l, int order, const char *file, const char *label,
		       const char *text, size_t len, int line, int col0, const char *ref_file)
{
	const char *tok[3];
	size_t tl[3], nt = 0, i = 0;
	char buf[520], why[160];
	size_t off;

	while (i < len && nt < 3) {
		while (i < len && (text[i] == ' ' || text[i] == '\t'))
			i++;
		if (i >= len)
			break;
		tok[nt] = text + i;
		while (i < len && text[i] != ' ' && text[i] != '\t')
			i++;
		tl[nt] = (size_t)(text + i - tok[nt]);
		nt++;
	}
	if (nt == 0)
		return true;
	if (nt == 3) {
		cfg_problem_add(l->p, order, file, line, col0 + (int)(tok[2] - text),
				"%s%sexpected 'source' or 'source target', found a third field '%.*s'",
				label, *label ? ": " : "", (int)(tl[2] > 60 ? 60 : tl[2]), tok[2]);
		return false;
	}
	for (size_t t = 0; t < nt; t++) {
		if (tl[t] >= sizeof(buf)) {
			cfg_problem_add(l->p, order, file, line, col0 + (int)(tok[t] - text),
					"%s%simage reference longer than 512 characters", label,
					*label ? ": " : "");
			return false;
		}
		memcpy(buf, tok[t], tl[t]);
		buf[tl[t]] = '\0';
		if (cfg_image_ref_check(buf, &off, why, sizeof(why)) != 0) {
			cfg_problem_add(l->p, order, file, line, col0 + (int)(tok[t] - text + off),
					"%s%s'%s' is not an image reference: %s", label,
					*label ? " " : "", SV(buf), why);
			return false;
		}
	}
	if (nt == 1) {
		/* Pulled by its own name: registries.yaml sends only registry.mirrors to the lab
		 * registry and turns the default endpoints off, so any other registry is a pull
		 * that can never work on the air-gapped nodes. (With a target the image is
		 * referenced by its lab-registry path instead.) */
		char host[300];
		memcpy(buf, tok[0], tl[0]);
		buf[tl[0]] = '\0';
		if (!cfg_image_is_mirrored(l->cfg, buf, host, sizeof(host)))
			cfg_problem_add(l->p, order, file, line, col0 + (int)(tok[0] - text),
					"%s%s%s comes from %s, which is not in registry.mirrors: the "
					"nodes could never pull it; add %s to registry.mirrors",
					label, *label ? ": " : "", SV(buf), host, host);
	}
	if (!add_ref(l, tok[0], tl[0], nt == 2 ? tok[1] : NULL, nt == 2 ? tl[1] : 0, ref_file,
		     line)) {
		if (!l->oom)
			cfg_problem_add(l->p, order, file, line, col0,
					"%s%smore than %d images; that is the limit", label,
					*label ? ": " : "", KF_CFG_MAX_IMAGES);
		return false;
	}
	return true;
}

static void load_list_file(struct ld *l, const struct ynode *v, const char *abs)
{
	struct kf_err e;
	struct stat st;
	char *data = NULL, *shown;
	size_t len = 0, pos = 0;
	int line = 0, r;

	kf_err_clear(&e);
	/* Only a regular file: a FIFO or a device would block or never end. */
	if (stat(abs, &st) == 0 && !S_ISREG(st.st_mode)) {
		PROB(l, v, "images.list: %s is not a regular file", SV(abs));
		return;
	}
	r = kf_fs_read(&data, &len, abs, KF_CFG_MAX_LIST_FILE, &e);
	if (r == KF_ENOTFOUND) {
		PROB(l, v, "images.list: %s not found (relative paths are taken from the config "
			   "file's directory); create it or fix the path", SV(abs));
		return;
	}
	if (r == KF_ELIMIT) {
		PROB(l, v, "images.list: %s is larger than 4 MiB; that is not an image list", SV(abs));
		return;
	}
	if (r) {
		PROB(l, v, "images.list: cannot read %s: %s", SV(abs), e.msg);
		return;
	}
	shown = v->str[0] == '/' ? strdup(v->str) : kf_path_join(l->shown_dir, v->str);
	if (!shown) {
		free(data);
		l->oom = true;
		return;
	}
	while (pos < len && !l->oom) {
		const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - s) : len - pos, cut = ll;
		line++;
		pos += ll + 1;
		if (ll && s[ll - 1] == '\r')
			cut = --ll;
		/* '#' starts a comment at the start of a line or after blank space. */
		for (size_t i = 0; i < ll; i++) {
			if (s[i] == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
				cut = i;
				break;
			}
		}
		if (memchr(s, '\0', cut)) {
			cfg_problem_add(l->p, 1, shown, line, 1, "line contains a NUL byte");
			continue;
		}
		if (!image_line(l, 1, shown, "", s, cut, line, 1, abs) &&
		    l->cfg->images.n_refs >= KF_CFG_MAX_IMAGES)
			break;
	}
	free(shown);
	free(data);
}

void cfg_load_images(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "list", "inline", "source_registry" };
	struct kf_config *c = l->cfg;
	const struct ynode *y;

	l->y_images = m;
	if (!cfg_want_map(l, m, "images"))
		return;
	cfg_check_keys(l, m, "images", keys, 3);
	cfg_field_str(l, m, "source_registry", "images.source_registry", &c->images.source_registry,
		  true, cfg_check_source_registry);
	if ((y = cfg_map_get(m, "inline")) != NULL && !cfg_ynode_is_null(y)) {
		if (y->kind != YN_SEQ) {
			PROB(l, y, "images.inline must be a list of image references, not %s",
			     cfg_kind_name(y));
		} else {
			for (size_t i = 0; i < y->n; i++) {
				const struct ynode *it = y->items[i];
				char path[48];
				snprintf(path, sizeof(path), "images.inline[%zu]", i);
				if (!cfg_scalar(l, it, path, "an image reference"))
					continue;
				if (!image_line(l, 0, l->name, path, it->str, it->len, it->line,
						it->col + (it->plain ? 0 : 1), l->name) &&
				    c->images.n_refs >= KF_CFG_MAX_IMAGES)
					break;
			}
		}
	}
	if ((y = cfg_field_str(l, m, "list", "images.list", &c->images.list_file, true, cfg_check_path))) {
		cfg_resolve_in_place(l, &c->images.list_file);
		if (c->images.list_file)
			load_list_file(l, y, c->images.list_file);
	}
}

void cfg_load_paths(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "ubuntu_iso", "vm_dir" };
	struct kf_config *c = l->cfg;

	if (!cfg_want_map(l, m, "paths"))
		return;
	cfg_check_keys(l, m, "paths", keys, 2);
	if (cfg_field_str(l, m, "ubuntu_iso", "paths.ubuntu_iso", &c->paths.ubuntu_iso, true,
		      cfg_check_path))
		cfg_resolve_in_place(l, &c->paths.ubuntu_iso);
	if (cfg_field_str(l, m, "vm_dir", "paths.vm_dir", &c->paths.vm_dir, true, cfg_check_path))
		cfg_resolve_in_place(l, &c->paths.vm_dir);
}

void cfg_load_vmware(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "vmrun", "firmware", "hw_version", "host_checks" };
	struct kf_config *c = l->cfg;
	char *hc = NULL;

	if (!cfg_want_map(l, m, "vmware"))
		return;
	cfg_check_keys(l, m, "vmware", keys, 4);
	if (cfg_field_str(l, m, "vmrun", "vmware.vmrun", &c->vmware.vmrun, false, cfg_check_path) &&
	    strcmp(c->vmware.vmrun, "auto") != 0 && strchr(c->vmware.vmrun, '/'))
		cfg_resolve_in_place(l, &c->vmware.vmrun);
	cfg_field_str(l, m, "firmware", "vmware.firmware", &c->vmware.firmware, false, cfg_check_firmware);
	cfg_field_int(l, m, "hw_version", "vmware.hw_version", &c->vmware.hw_version, 19, 22);
	if (cfg_field_str(l, m, "host_checks", "vmware.host_checks", &hc, false, cfg_check_host_checks))
		c->vmware.host_checks_warn = strcmp(hc, "warn") == 0;
	free(hc);
}

/* The top-level `hypervisor:` scalar. */
void cfg_load_hypervisor(struct ld *l, const struct ynode *v)
{
	const char *s;

	if (!v)
		return;
	s = cfg_scalar(l, v, "hypervisor", "vmware or qemu");
	if (s && cfg_check_hypervisor(l, v, "hypervisor"))
		l->cfg->hypervisor = strcmp(s, "qemu") == 0 ? KF_HV_QEMU : KF_HV_VMWARE;
}

void cfg_load_qemu(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "binary", "accel", "bridge", "bridge_helper" };
	struct kf_config *c = l->cfg;

	if (!cfg_want_map(l, m, "qemu"))
		return;
	cfg_check_keys(l, m, "qemu", keys, 4);
	if (cfg_field_str(l, m, "binary", "qemu.binary", &c->qemu.binary, false, cfg_check_path) &&
	    strcmp(c->qemu.binary, "auto") != 0 && strchr(c->qemu.binary, '/'))
		cfg_resolve_in_place(l, &c->qemu.binary);
	cfg_field_str(l, m, "accel", "qemu.accel", &c->qemu.accel, false, cfg_check_accel);
	cfg_field_str(l, m, "bridge", "qemu.bridge", &c->qemu.bridge, false, cfg_check_ifname);
	if (cfg_field_str(l, m, "bridge_helper", "qemu.bridge_helper", &c->qemu.bridge_helper,
			  false, cfg_check_path) &&
	    strcmp(c->qemu.bridge_helper, "auto") != 0 && strchr(c->qemu.bridge_helper, '/'))
		cfg_resolve_in_place(l, &c->qemu.bridge_helper);
}

void cfg_load_guest(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "user", "timezone", "locale", "keyboard", "packages",
					    "debs", "image" };
	struct kf_config *c = l->cfg;

	if (!cfg_want_map(l, m, "guest"))
		return;
	cfg_check_keys(l, m, "guest", keys, 7);
	cfg_field_str(l, m, "user", "guest.user", &c->guest.user, false, cfg_check_user);
	cfg_field_str(l, m, "timezone", "guest.timezone", &c->guest.timezone, false, cfg_check_timezone);
	cfg_field_str(l, m, "locale", "guest.locale", &c->guest.locale, false, cfg_check_locale);
	cfg_field_str(l, m, "keyboard", "guest.keyboard", &c->guest.keyboard, false, cfg_check_keyboard);
	l->y_packages = cfg_field_strlist(l, m, "packages", "guest.packages", &c->guest.packages,
					  &c->guest.n_packages, cfg_check_package);
	/* a directory of .deb files for the installer's late-commands (render/recipe.c) */
	if ((l->y_debs = cfg_field_str(l, m, "debs", "guest.debs", &c->guest.debs, true,
				       cfg_check_path)))
		cfg_resolve_in_place(l, &c->guest.debs);
	/* image mode: a cloud image booted directly (no installer; docs/qemu.md) */
	if ((l->y_image = cfg_field_str(l, m, "image", "guest.image", &c->guest.image, true,
					cfg_check_path)))
		cfg_resolve_in_place(l, &c->guest.image);
}

static bool check_chart(struct ld *l, const struct ynode *v, const char *path)
{
	if (strncmp(v->str, "http://", 7) == 0 || strncmp(v->str, "https://", 8) == 0)
		return cfg_check_url(l, v, path);
	return cfg_check_path(l, v, path);
}

void cfg_load_addons(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "kubesphere" };
	static const char *const ks_keys[] = { "enabled", "version", "chart", "chart_sha256",
					       "admin_password" };
	struct kf_config *c = l->cfg;
	const struct ynode *ks, *v;

	if (!cfg_want_map(l, m, "addons"))
		return;
	cfg_check_keys(l, m, "addons", keys, 1);
	ks = cfg_map_get(m, "kubesphere");
	if (!cfg_want_map(l, ks, "addons.kubesphere"))
		return;
	cfg_check_keys(l, ks, "addons.kubesphere", ks_keys, 5);
	cfg_field_bool(l, ks, "enabled", "addons.kubesphere.enabled", &c->addons.kubesphere);
	cfg_field_str(l, ks, "version", "addons.kubesphere.version", &c->addons.kubesphere_version,
		  false, cfg_check_semver);
	if (cfg_field_str(l, ks, "chart", "addons.kubesphere.chart", &c->addons.kubesphere_chart,
		      false, check_chart) &&
	    !cfg_is_url(c->addons.kubesphere_chart))
		cfg_resolve_in_place(l, &c->addons.kubesphere_chart);
	cfg_field_str(l, ks, "chart_sha256", "addons.kubesphere.chart_sha256",
		  &c->addons.kubesphere_chart_sha256, true, cfg_check_sha256);
	v = cfg_map_get(ks, "admin_password");
	if (v && v->kind == YN_SCALAR && strcmp(v->str, "***") == 0) {
		/* The masked value `config show` prints: not a password, so prep generates one. */
		if (c->addons.admin_password) {
			memset(c->addons.admin_password, 0, strlen(c->addons.admin_password));
			free(c->addons.admin_password);
			c->addons.admin_password = NULL;
		}
	} else {
		cfg_field_str(l, ks, "admin_password", "addons.kubesphere.admin_password",
			  &c->addons.admin_password, true, cfg_check_password);
	}
}

void cfg_load_timeouts(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "wait", "ssh_connect", "finalize", "vmrun", "download" };
	struct kf_config *c = l->cfg;

	if (!cfg_want_map(l, m, "timeouts"))
		return;
	cfg_check_keys(l, m, "timeouts", keys, 5);
	cfg_field_duration(l, m, "wait", &c->timeouts.wait_s, 30, 86400);
	cfg_field_duration(l, m, "ssh_connect", &c->timeouts.ssh_connect_s, 1, 600);
	cfg_field_duration(l, m, "finalize", &c->timeouts.finalize_s, 30, 86400);
	cfg_field_duration(l, m, "vmrun", &c->timeouts.vmrun_s, 5, 3600);
	cfg_field_duration(l, m, "download", &c->timeouts.download_s, 5, 3600);
}
