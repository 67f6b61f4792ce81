/* registries.yaml for k3s (tech-notes §5.4): mirrors → our registry, configs keyed by the
 * endpoint's host:port with the guest's CA file. Emitted through libyaml. */
#include "k3sforge/registries_yaml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "yaml_out.h"

#define REGISTRIES_YAML_MAX ((size_t)1024 * 1024)

int kf_registries_yaml_hostport(const struct kf_config *cfg, char *out, size_t n,
				struct kf_err *err)
{
	const char *ip = cfg->registry.host_ip;
	char *hp;
	bool fits;

	if (!ip || !*ip)
		return kf_err_set(err, KF_ECONFIG, "registry.host_ip is not set: the guests need the "
				  "registry's address");
	if (cfg->registry.port <= 0 || cfg->registry.port > 65535)
		return kf_err_set(err, KF_ECONFIG, "registry.port %d is not a TCP port (1-65535)",
				  cfg->registry.port);
	if (!(hp = kf_registry_hostport(cfg)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	fits = strlen(hp) < n;
	if (fits)
		memcpy(out, hp, strlen(hp) + 1);
	free(hp);
	if (!fits)
		return kf_err_set(err, KF_ELIMIT, "registry.host_ip is too long");
	return 0;
}

int kf_registries_yaml_render(char **out, const struct kf_config *cfg, struct kf_err *err)
{
	struct kf_yout y;
	char hostport[300], endpoint[320];
	uint32_t cp;
	int r;

	*out = NULL;
	if ((r = kf_registries_yaml_hostport(cfg, hostport, sizeof(hostport), err)) != 0)
		return r;
	if (kf_text_find_unsafe(hostport, strlen(hostport), 0, &cp) < strlen(hostport) &&
	    cp == KF_UTF8_INVALID)
		return kf_err_set(err, KF_ECONFIG, "registry.host_ip is not valid UTF-8");
	snprintf(endpoint, sizeof(endpoint), "https://%s", hostport);
	for (size_t i = 0; i < cfg->registry.n_mirrors; i++) {
		const char *m = cfg->registry.mirrors[i];
		if (!m || !*m)
			return kf_err_set(err, KF_ECONFIG, "registry.mirrors[%zu] is empty", i);
		if (kf_text_find_unsafe(m, strlen(m), 0, &cp) < strlen(m) && cp == KF_UTF8_INVALID)
			return kf_err_set(err, KF_ECONFIG, "registry.mirrors[%zu] is not valid UTF-8", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->registry.mirrors[j], m) == 0)
				return kf_err_set(err, KF_ECONFIG,
						  "registry.mirrors lists %s twice", m);
	}
	if ((r = kf_yout_begin(&y)) != 0) {
		kf_yout_abort(&y);
		return kf_err_set(err, r, "out of memory emitting registries.yaml");
	}
	kf_yout_map_start(&y, false);

	kf_yout_str(&y, "mirrors");
	kf_yout_map_start(&y, false);
	for (size_t i = 0; i < cfg->registry.n_mirrors; i++) {
		/* quoted: a plain key could read as another type to YAML 1.1 (null, yes, 1:20) */
		kf_yout_quoted(&y, cfg->registry.mirrors[i]);
		kf_yout_map_start(&y, false);
		kf_yout_str(&y, "endpoint");
		kf_yout_seq_start(&y, true);
		kf_yout_quoted(&y, endpoint);
		kf_yout_seq_end(&y);
		kf_yout_map_end(&y);
	}
	kf_yout_map_end(&y);

	kf_yout_str(&y, "configs");
	kf_yout_map_start(&y, false);
	kf_yout_quoted(&y, hostport);
	kf_yout_map_start(&y, false);
	kf_yout_str(&y, "tls");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "ca_file", KF_GUEST_CA_PATH);
	kf_yout_map_end(&y);
	kf_yout_map_end(&y);
	kf_yout_map_end(&y);

	kf_yout_map_end(&y);
	return kf_yout_finish(&y, out, "registries.yaml", err);
}

int kf_registries_yaml_write(const struct kf_config *cfg, const char *out_dir, bool *changed,
			     struct kf_err *err)
{
	char *text = NULL, *old = NULL, *path = NULL;
	size_t old_len = 0;
	int r;

	if (changed)
		*changed = false;
	if ((r = kf_registries_yaml_render(&text, cfg, err)) != 0)
		goto out;
	path = kf_path_join(out_dir, KF_OUT_REGISTRIES_YAML);
	if (!path) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (kf_fs_read(&old, &old_len, path, REGISTRIES_YAML_MAX, NULL) == 0 &&
	    old_len == strlen(text) && memcmp(old, text, old_len) == 0) {
		kf_debug("%s is up to date", path);
		goto out;
	}
	if ((r = kf_fs_mkdirs(out_dir, 0755, err)) != 0)
		goto out;
	if ((r = kf_fs_write_atomic(path, text, strlen(text), 0644, err)) != 0)
		goto out;
	if (changed)
		*changed = true;
	kf_info("wrote %s (%zu mirror%s → https://%s:%d)", path, cfg->registry.n_mirrors,
		cfg->registry.n_mirrors == 1 ? "" : "s", cfg->registry.host_ip, cfg->registry.port);
out:
	free(text);
	free(old);
	free(path);
	return r;
}
