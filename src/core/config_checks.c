/* k3sforge.yaml, after every section is loaded: the defaults that follow other values (the
 * gateway, DNS server and registry address taken from the subnet) and the checks that span
 * sections — node, gateway and registry addresses inside the subnet and not shared, duplicate
 * names and MAC addresses, exactly one master, the pause image listed and its registry
 * mirrored. Problems point at the value in the file that caused them (config_load.c walks the
 * tree and keeps those positions in struct ld). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "k3sforge/imageref.h"

/* ------------------------------------------------------------------------------------------ */
/* Defaults that follow other values, and checks across sections                               */

static char *ip_str(struct ld *l, uint32_t a)
{
	char b[16];

	cfg_fmt_ipv4(b, a);
	return cfg_xstrdup(l, b);
}

/* A changed subnet moves the defaults that live in it: gateway .1, registry = gateway,
 * dns = [gateway], and (when nodes: is not given) the three lab nodes at .10, .11, .12. */
void cfg_derive_defaults(struct ld *l)
{
	struct kf_config *c = l->cfg;
	uint32_t net = c->network.subnet_addr;
	char *s;

	if (l->y_subnet && l->subnet_ok && !l->y_gateway) {
		if ((s = ip_str(l, net + 1))) {
			free(c->network.gateway);
			c->network.gateway = s;
		}
	}
	if (!l->y_dns && (l->y_gateway || l->y_subnet) && c->network.n_dns == 1) {
		if ((s = cfg_xstrdup(l, c->network.gateway))) {
			free(c->network.dns[0]);
			c->network.dns[0] = s;
		}
	}
	if (!l->y_reg_ip && (l->y_gateway || l->y_subnet)) {
		if ((s = cfg_xstrdup(l, c->network.gateway))) {
			free(c->registry.host_ip);
			c->registry.host_ip = s;
		}
	}
	if (!l->y_nodes && l->y_subnet && l->subnet_ok && c->network.prefix <= 28) {
		for (size_t i = 0; i < c->n_nodes; i++) {
			if ((s = ip_str(l, net + 10 + (uint32_t)i))) {
				free(c->nodes[i].ip);
				c->nodes[i].ip = s;
			}
		}
	}
	if (!c->registry.listen) {
		char b[32];
		snprintf(b, sizeof(b), "0.0.0.0:%d", c->registry.port);
		c->registry.listen = cfg_xstrdup(l, b);
	}
}

/* Where to point at for a value: its node, else the subnet that moved it, else line 1. */
const struct ynode *cfg_at(struct ld *l, const struct ynode *y)
{
	static const struct ynode origin = { .kind = YN_SCALAR, .line = 1, .col = 1 };

	if (y)
		return y;
	if (l->y_subnet)
		return l->y_subnet;
	return &origin;
}

/* An address must be a usable host in the subnet. Returns false (reported) if not. */
static bool check_in_subnet(struct ld *l, const struct ynode *y, const char *what,
			    const char *value)
{
	const struct kf_config *c = l->cfg;
	uint32_t a, mask = cfg_prefix_mask(c->network.prefix);

	if (!value || !cfg_parse_ipv4(value, &a))
		return false;
	if ((a & mask) != c->network.subnet_addr) {
		PROB(l, cfg_at(l, y), "%s %s is outside network.subnet %s", what, value,
		     c->network.subnet);
		return false;
	}
	if (a == c->network.subnet_addr) {
		PROB(l, cfg_at(l, y), "%s %s is the network address of %s; use a host address", what,
		     value, c->network.subnet);
		return false;
	}
	if (a == (c->network.subnet_addr | ~mask)) {
		PROB(l, cfg_at(l, y), "%s %s is the broadcast address of %s; use a host address", what,
		     value, c->network.subnet);
		return false;
	}
	return true;
}

/* Docker's reading of a short reference: "busybox:1" is docker.io/library/busybox:1,
 * "rancher/x" is docker.io/rancher/x, index.docker.io/x is docker.io/library/x (as Docker reads
 * it). Writes at most size bytes. */
void cfg_image_full_name(char *out, size_t size, const char *ref)
{
	struct kf_imageref r;

	if (kf_imageref_parse(ref, &r, NULL, NULL, 0) == 0)
		kf_imageref_full(&r, out, size);
	else
		snprintf(out, size, "%s", ref);
}

/* The pinned pause image must be mirrored too: the seeds' lab broke on exactly that. prep
 * mirrors it along with k3s-images.txt (listed or not); its source must be a mirrored registry. */
static void check_pause_listed(struct ld *l)
{
	const struct kf_config *c = l->cfg;
	char have[600];

	if (!l->y_pause || !c->k3s.pause_image)
		return;
	if (!cfg_image_is_mirrored(c, c->k3s.pause_image, have, sizeof(have))) {
		PROB(l, l->y_pause,
		     "k3s.pause_image %s comes from %s, which is not in registry.mirrors: no pod could "
		     "start; add %s to registry.mirrors", SV(c->k3s.pause_image), have, have);
	}
}

/* Image mode boots a cloud image that is already installed: nothing installs packages, and the
 * lab has no apt source, so guest.packages and guest.debs have nowhere to come from. */
static void check_image_mode(struct ld *l)
{
	const struct kf_config *c = l->cfg;

	if (!c->guest.image)
		return;
	if (c->guest.n_packages > 0 && l->y_packages)
		PROB(l, l->y_packages, "guest.packages cannot be installed in image mode (guest.image "
		     "at line %d): the cloud image boots without an installer and the lab has no "
		     "package source; remove guest.packages, or remove guest.image to install from "
		     "the Ubuntu ISO", l->y_image ? l->y_image->line : 0);
	if (c->guest.debs && l->y_debs)
		PROB(l, l->y_debs, "guest.debs are installed by the installer, which image mode "
		     "(guest.image at line %d) does not run; remove guest.debs, or remove guest.image "
		     "to install from the Ubuntu ISO", l->y_image ? l->y_image->line : 0);
}

void cfg_check_across(struct ld *l)
{
	struct kf_config *c = l->cfg;
	bool subnet_usable = !l->y_subnet || l->subnet_ok;
	size_t masters = 0, first_master = 0;

	if (subnet_usable) {
		if (!l->y_gateway || l->gateway_ok)
			check_in_subnet(l, l->y_gateway, "network.gateway", c->network.gateway);
		/* A registry address that follows the gateway is checked as the gateway. */
		if (l->y_reg_ip ? l->reg_ip_ok : !(l->y_gateway || l->y_subnet))
			check_in_subnet(l, l->y_reg_ip, "registry.host_ip", c->registry.host_ip);
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct kf_node *n = &c->nodes[i];
		const struct node_pos *np = l->npos ? &l->npos[i] : NULL;
		const struct ynode *yip = np ? np->ip : NULL;
		char what[64];

		if (n->role == KF_ROLE_MASTER && np && np->item->kind == YN_MAP) {
			if (masters++ == 0) {
				first_master = i;
			} else {
				const struct ynode *r = cfg_map_get(np->item, "role");
				PROB(l, r ? r : np->item,
				     "nodes[%zu] is a second master (nodes[%zu] '%s' at line %d is "
				     "one): only one master is supported", i, first_master,
				     c->nodes[first_master].name ? c->nodes[first_master].name : "?",
				     l->npos[first_master].item->line);
			}
		} else if (n->role == KF_ROLE_MASTER) {
			masters++;
		}
		snprintf(what, sizeof(what), "nodes[%zu].ip", i);
		if (n->ip && (!np || yip) && subnet_usable &&
		    check_in_subnet(l, yip, what, n->ip)) {
			if (c->network.gateway && strcmp(n->ip, c->network.gateway) == 0)
				PROB(l, cfg_at(l, yip ? yip : l->y_gateway), "%s %s is the gateway "
				     "(network.gateway); pick another address", what, n->ip);
			else if (c->registry.host_ip && strcmp(n->ip, c->registry.host_ip) == 0)
				PROB(l, cfg_at(l, yip ? yip : l->y_reg_ip), "%s %s is the registry's address "
						    "(registry.host_ip); pick another address",
				     what, n->ip);
		}
		if (!np)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct kf_node *o = &c->nodes[j];
			const struct node_pos *op = &l->npos[j];
			if (n->name && o->name && np->name && strcmp(n->name, o->name) == 0) {
				PROB(l, np->name, "nodes[%zu].name '%s' is already used by nodes[%zu] "
						  "at line %d", i, n->name, j, op->item->line);
				break;
			}
		}
		for (size_t j = 0; j < i; j++) {
			const struct kf_node *o = &c->nodes[j];
			const struct node_pos *op = &l->npos[j];
			if (n->ip && o->ip && yip && strcmp(n->ip, o->ip) == 0) {
				PROB(l, yip, "nodes[%zu].ip %s is already used by nodes[%zu] '%s' at "
					     "line %d", i, n->ip, j, o->name ? o->name : "?",
				     op->item->line);
				break;
			}
		}
		for (size_t j = 0; j < i; j++) {
			const struct kf_node *o = &c->nodes[j];
			const struct node_pos *op = &l->npos[j];
			if (n->mac && o->mac && np->mac && strcmp(n->mac, o->mac) == 0) {
				PROB(l, np->mac, "nodes[%zu].mac %s is already used by nodes[%zu] "
						 "'%s' at line %d", i, n->mac, j,
				     o->name ? o->name : "?", op->item->line);
				break;
			}
		}
		for (size_t j = 0; np->ssh && j < i; j++) {
			const struct kf_node *o = &c->nodes[j];
			const struct node_pos *op = &l->npos[j];
			const char *oh = o->ssh_host ? o->ssh_host : o->ip;
			if (oh && n->ssh_host && strcmp(n->ssh_host, oh) == 0 &&
			    n->ssh_port == o->ssh_port) {
				PROB(l, np->ssh, "nodes[%zu].ssh %s:%d is already where nodes[%zu] "
						 "'%s' (line %d) is reached", i, n->ssh_host,
				     n->ssh_port, j, o->name ? o->name : "?", op->item->line);
				break;
			}
		}
	}
	check_pause_listed(l);
	check_image_mode(l);
	if (masters == 0 && c->n_nodes > 0 && !l->nodes_bad)
		PROB(l, cfg_at(l, l->y_nodes), "nodes: no master; mark one node with role: master");
}
