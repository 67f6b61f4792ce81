/* The build-iso stage: renders every node's recipe into <out>/render/<node>/, writes one NoCloud
 * seed ISO per node and remasters the Ubuntu installer once. Each output records the
 * fingerprint of its inputs next to it (iso/.<name>.inputs); an output whose inputs did not
 * change is not rebuilt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/digest.h"
#include "k3sforge/flush.h"
#include "k3sforge/fs.h"
#include "k3sforge/iso.h"
#include "k3sforge/lab.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/render.h"

#define ISO_FORMAT "k3sforge-iso-1"  /* bump when the image layout changes */

/* ---- fingerprints ------------------------------------------------------------------------- */

static char *sidecar_path(const char *iso_dir, const char *name)
{
	char rel[320];

	if (snprintf(rel, sizeof(rel), ".%s.inputs", name) >= (int)sizeof(rel))
		return NULL;
	return kf_path_join(iso_dir, rel);
}

/* The image every node shares, in iso/: image mode's payload CD or the remastered installer. */
static const char *shared_name(const struct kf_config *cfg)
{
	return cfg->guest.image ? "payload.iso" : "installer.iso";
}

/* True when iso_dir/name exists and its recorded input fingerprint equals hex. */
static bool up_to_date(const char *iso_dir, const char *name, const char *hex)
{
	char *img = kf_path_join(iso_dir, name), *side = sidecar_path(iso_dir, name), *rec = NULL;
	bool ok = false;

	if (img && side && kf_fs_exists(img) && kf_fs_read(&rec, NULL, side, 256, NULL) == 0)
		ok = strncmp(rec, hex, KF_SHA256_HEX_LEN) == 0;
	free(rec);
	free(img);
	free(side);
	return ok;
}

static int record(const char *iso_dir, const char *name, const char *hex, struct kf_err *err)
{
	char *side = sidecar_path(iso_dir, name), line[KF_SHA256_HEX_LEN + 2];
	int r;

	if (!side)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	snprintf(line, sizeof(line), "%s\n", hex);
	r = kf_fs_write_atomic(side, line, strlen(line), 0644, err);
	free(side);
	return r;
}

/* An image's record says its data is on disk, so it goes before the image is replaced and
 * comes back only once the new one is durable (settle). A crash in between leaves an image
 * without a record: build_iso_check then sends the stage to run again, and that image is
 * rebuilt. */
static int unrecord(const char *iso_dir, const char *name, struct kf_err *err)
{
	char *side = sidecar_path(iso_dir, name);
	int r = 0;

	if (!side)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (unlink(side) != 0 && errno != ENOENT)
		r = kf_err_set(err, KF_EIO, "%s: %s", side, strerror(errno));
	free(side);
	return r;
}

struct pending_record {
	char *iso_dir;
	char name[300];
	char hex[KF_SHA256_HEX_LEN + 1];
};

static int pending_record_write(void *arg, struct kf_err *err)
{
	struct pending_record *p = arg;

	return record(p->iso_dir, p->name, p->hex, err);
}

static void pending_record_free(void *arg)
{
	struct pending_record *p = arg;

	free(p->iso_dir);
	free(p);
}

/* Makes a freshly written image durable and records it. With `defer` (up: the VMs can boot
 * from the page cache while the disk catches up -- a real installer image is gigabytes) both
 * happen on the flush thread and up waits for them before it returns; else here and now. */
static int settle(const char *iso_dir, const char *name, const char *hex, bool defer,
		  struct kf_err *err)
{
	char *img = kf_path_join(iso_dir, name);
	struct pending_record *p = calloc(1, sizeof(*p));
	int r;

	if (!img || !p || !(p->iso_dir = strdup(iso_dir))) {
		free(img);
		if (p)
			pending_record_free(p);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->hex, sizeof(p->hex), "%s", hex);
	r = (defer ? kf_flush_later : kf_flush_now)(img, pending_record_write, p,
						   pending_record_free, err);
	free(img);
	return r;
}

static void installer_fp(const struct kf_config *cfg, const struct kf_recipe_inputs *in,
			 const char *tpl_dir, char hex[KF_SHA256_HEX_LEN + 1])
{
	struct kf_fp *fp = kf_fp_new();
	char *grub_tpl = NULL;
	struct kf_err err;

	/* the template's text, built in or from K3SFORGE_TEMPLATES (missing: NULL, and the build
	 * itself reports it) */
	if (kf_tpl_load(&grub_tpl, tpl_dir, "grub-autoinstall.cfg", &err) != 0)
		grub_tpl = NULL;
	kf_fp_str(fp, "format", ISO_FORMAT);
	kf_fp_file(fp, "ubuntu", cfg->paths.ubuntu_iso);
	kf_fp_str(fp, "grub-template", grub_tpl);
	for (size_t i = 0; i < in->n_payload; i++) {
		kf_fp_str(fp, "payload", in->payload[i].name);
		kf_fp_file(fp, "file", in->payload[i].path);
	}
	kf_fp_final(fp, hex);
	free(grub_tpl);
}

/* Image mode's payload CD: the payload alone (no Ubuntu ISO, no GRUB). */
static void payload_fp(const struct kf_recipe_inputs *in, char hex[KF_SHA256_HEX_LEN + 1])
{
	struct kf_fp *fp = kf_fp_new();

	kf_fp_str(fp, "format", ISO_FORMAT);
	kf_fp_str(fp, "label", KF_PAYLOAD_LABEL);
	for (size_t i = 0; i < in->n_payload; i++) {
		kf_fp_str(fp, "payload", in->payload[i].name);
		kf_fp_file(fp, "file", in->payload[i].path);
	}
	kf_fp_final(fp, hex);
}

/* The seed's user-data: the installer's autoinstall, or in image mode (no installer) the
 * installed system's own. */
static void seed_fp(const struct kf_node_recipe *rc, bool image, char hex[KF_SHA256_HEX_LEN + 1])
{
	struct kf_fp *fp = kf_fp_new();

	kf_fp_str(fp, "format", ISO_FORMAT);
	kf_fp_str(fp, "mode", image ? "image" : "installer");
	kf_fp_str(fp, "user-data", image ? rc->user_data : rc->autoinstall);
	kf_fp_str(fp, "meta-data", rc->meta_data);
	kf_fp_str(fp, "network-config", rc->network_config);
	kf_fp_final(fp, hex);
}

/* ---- the work ----------------------------------------------------------------------------- */

/* SHA256SUMS of the payload, for the bootstrap's check before use. */
static int write_sums(const struct kf_recipe_inputs *in, const char *path, struct kf_err *err)
{
	char *sums = NULL;
	int r;

	if ((r = kf_recipe_payload_sums(&sums, in, err)) == 0)
		r = kf_fs_write_atomic(path, sums, strlen(sums), 0644, err);
	free(sums);
	return r;
}

int kf_build_iso_check_source(const struct kf_config *cfg, struct kf_err *err)
{
	const char *p = cfg->paths.ubuntu_iso;
	const char **pkgs;
	size_t n;
	int r;

	/* image mode boots guest.image: no installer to remaster (config check refused the
	 * packages it would have installed) */
	if (cfg->guest.image) {
		struct stat st;
		if (stat(cfg->guest.image, &st) != 0 || !S_ISREG(st.st_mode))
			return kf_err_set(err, KF_ENOTFOUND, "guest.image %s: no such file: download "
					  "the cloud image (docs/qemu.md: Ubuntu 22.04 "
					  "jammy-server-cloudimg-amd64.img) there, or fix guest.image",
					  cfg->guest.image);
		return 0;
	}
	if (!p || !*p)
		return kf_err_set(err, KF_ECONFIG,
				  "paths.ubuntu_iso is not set: download "
				  "ubuntu-22.04.5-live-server-amd64.iso (releases.ubuntu.com/22.04) and "
				  "point paths.ubuntu_iso at it, or pass build-iso --ubuntu-iso FILE");
	if (!kf_fs_exists(p))
		return kf_err_set(err, KF_ENOTFOUND,
				  "paths.ubuntu_iso %s: no such file: download "
				  "ubuntu-22.04.5-live-server-amd64.iso (releases.ubuntu.com/22.04) "
				  "there, or fix paths.ubuntu_iso%s%s",
				  p, cfg->path ? " in " : "", cfg->path ? cfg->path : "");
	if ((r = kf_iso_check_ubuntu(p, err)) != 0 || (r = kf_iso_check_release(p, err)) != 0)
		return r;
	/* offline, the installer can install only what the ISO holds (src/iso/pool.c) */
	if (!(pkgs = kf_recipe_packages(cfg, &n)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_iso_check_packages(p, pkgs, n, err);
	free(pkgs);
	return r;
}

/* The payload under /k3sforge/ (the installer ISO's and image mode's payload CD alike): every
 * payload file, plus SHA256SUMS and build-timestamp written into work (path[0], path[1]).
 * files and iso_paths hold n_payload + 2 entries; *n is how many are used. */
static int payload_files(const struct kf_recipe_inputs *in, const char *work,
			 char path[2][1100], struct kf_iso_file *files, char (*iso_paths)[300],
			 size_t *count, struct kf_err *err)
{
	char ts[32];
	size_t n = 0;
	int r;

	snprintf(path[0], 1100, "%s/SHA256SUMS", work);
	snprintf(path[1], 1100, "%s/build-timestamp", work);
	snprintf(ts, sizeof(ts), "%lld\n", in->build_timestamp);
	if ((r = write_sums(in, path[0], err)) != 0 ||
	    (r = kf_fs_write_atomic(path[1], ts, strlen(ts), 0644, err)) != 0)
		return r;
	for (size_t i = 0; i < in->n_payload; i++) {
		snprintf(iso_paths[n], sizeof(iso_paths[n]), "%s/%s", KF_PAYLOAD_ISO_DIR,
			 in->payload[i].name);
		files[n].disk_path = in->payload[i].path;
		files[n].iso_path = iso_paths[n];
		n++;
	}
	files[n].disk_path = path[0];
	files[n++].iso_path = KF_PAYLOAD_ISO_DIR "/SHA256SUMS";
	files[n].disk_path = path[1];
	files[n++].iso_path = KF_PAYLOAD_ISO_DIR "/build-timestamp";
	*count = n;
	return 0;
}

/* What every node shares: the remastered Ubuntu installer, or in image mode the payload the
 * installer ISO would carry on a CD of its own (label KF_PAYLOAD_LABEL, same /k3sforge/ layout),
 * which the installed system's user-data copies to KF_SEED_DIR (docs/qemu.md says why a CD
 * rather than the registry). Both carry payload_files; skipped when its inputs are unchanged. */
static int build_shared(const struct kf_lab *lab, const struct kf_recipe_inputs *in,
			const char *iso_dir, const char *tpl_dir, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	bool image = cfg->guest.image != NULL;
	const char *name = shared_name(cfg);
	char hex[KF_SHA256_HEX_LEN + 1], path[2][1100];
	char *dst = kf_path_join(iso_dir, name), *work = kf_path_join(iso_dir, ".work");
	struct kf_iso_file *files = calloc(in->n_payload + 2, sizeof(*files));
	char (*iso_paths)[300] = calloc(in->n_payload + 2, sizeof(*iso_paths));
	size_t n = 0;
	double t0 = kf_now_mono();
	int r;

	if (!dst || !work || !files || !iso_paths) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (image)
		payload_fp(in, hex);
	else
		installer_fp(cfg, in, tpl_dir, hex);
	if (!lab->opts.rebuild_isos && up_to_date(iso_dir, name, hex)) {
		kf_info("%s is up to date (inputs unchanged)", name);
		r = 0;
		goto out;
	}
	if ((r = kf_fs_mkdirs(work, 0700, err)) != 0 || (r = unrecord(iso_dir, name, err)) != 0)
		goto out;
	if ((r = payload_files(in, work, path, files, iso_paths, &n, err)) != 0)
		goto out;
	if (image) {
		r = kf_iso_write_data(dst, KF_PAYLOAD_LABEL, files, n, err);
	} else {
		struct kf_iso_remaster spec;

		memset(&spec, 0, sizeof(spec));
		spec.src = cfg->paths.ubuntu_iso;
		spec.dst = dst;
		spec.work_dir = work;
		spec.tpl_dir = tpl_dir;
		spec.files = files;
		spec.n_files = n;
		spec.progress_what = "remaster installer.iso";
		kf_info("remastering %s into %s", cfg->paths.ubuntu_iso, dst);
		t0 = kf_now_mono();
		r = kf_iso_remaster(&spec, err);
	}
	if (r != 0 || (r = settle(iso_dir, name, hex, lab->opts.defer_iso_sync, err)) != 0)
		goto out;
	kf_ok("%s written (%.1fs)", name, kf_now_mono() - t0);
out:
	free(dst);
	free(work);
	free(files);
	free(iso_paths);
	return r;
}

static int build_seed(const struct kf_node_recipe *rc, bool image, const char *render_dir,
		      const char *iso_dir, bool rebuild, bool defer, struct kf_err *err)
{
	char hex[KF_SHA256_HEX_LEN + 1], name[300], ud[1100], md[1100], nc[1100];
	char *dst;
	struct kf_iso_file files[3];
	int r;

	snprintf(name, sizeof(name), "seed-%s.iso", rc->node);
	seed_fp(rc, image, hex);
	if (!rebuild && up_to_date(iso_dir, name, hex)) {
		kf_info("%s is up to date", name);
		return 0;
	}
	/* the installer's seed: user-data is the autoinstall one; image mode boots the installed
	 * system at once, which reads its own */
	snprintf(ud, sizeof(ud), "%s/%s", render_dir, image ? "user-data" : "autoinstall-user-data");
	snprintf(md, sizeof(md), "%s/meta-data", render_dir);
	snprintf(nc, sizeof(nc), "%s/network-config", render_dir);
	files[0] = (struct kf_iso_file){ ud, "/user-data" };
	files[1] = (struct kf_iso_file){ md, "/meta-data" };
	files[2] = (struct kf_iso_file){ nc, "/network-config" };
	dst = kf_path_join(iso_dir, name);
	if (!dst)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = unrecord(iso_dir, name, err);
	if (!r)
		r = kf_iso_write_seed(dst, files, 3, err);
	if (!r)
		r = settle(iso_dir, name, hex, defer, err);
	if (!r)
		kf_ok("%s written (instance-id %s)", name, rc->instance_id);
	free(dst);
	return r;
}

static int build_iso_run(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_recipe_inputs *in = NULL;
	char *iso_dir = kf_lab_path(lab, KF_OUT_ISO_DIR);
	const char *tpl_dir = kf_render_template_dir();
	struct kf_node_recipe **rcs = NULL;
	int r;

	if (!iso_dir)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	/* the source ISO first (its release, the packages it can install offline): nothing is
	 * written when it cannot serve this configuration */
	if (!lab->opts.source_checked && (r = kf_build_iso_check_source(cfg, err)) != 0)
		goto out;
	if ((r = kf_recipe_inputs_load(&in, cfg, lab->out_dir, err)) != 0)
		goto out;
	kf_log_add_secret(in->token);
	if (in->admin_password)
		kf_log_add_secret(in->admin_password);
	if ((r = kf_fs_mkdirs(iso_dir, 0755, err)) != 0)
		goto out;
	/* Recipes are rendered and written, and each node's seed ISO written, one node after
	 * another (CPU work: well under a millisecond per seed with libisofs, src/iso/data.c);
	 * then what every node shares. */
	if ((rcs = calloc(cfg->n_nodes ? cfg->n_nodes : 1, sizeof(*rcs))) == NULL) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->n_nodes && !r; i++) {
		char rel[300], *render_dir;

		if (kf_interrupted()) {
			r = kf_err_set(err, KF_EINTR, "interrupted before seed-%s.iso", cfg->nodes[i].name);
			break;
		}
		snprintf(rel, sizeof(rel), "render/%s", cfg->nodes[i].name);
		if (!(render_dir = kf_lab_path(lab, rel))) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			break;
		}
		if ((r = kf_recipe_render_node(&rcs[i], cfg, in, cfg->nodes[i].name, tpl_dir,
					       err)) == 0 &&
		    (r = kf_recipe_write_all(rcs[i], render_dir, err)) == 0)
			r = build_seed(rcs[i], cfg->guest.image != NULL, render_dir, iso_dir,
				       lab->opts.rebuild_isos, lab->opts.defer_iso_sync, err);
		free(render_dir);
	}
	if (!r)
		r = build_shared(lab, in, iso_dir, tpl_dir, err);
out:
	for (size_t i = 0; rcs && i < cfg->n_nodes; i++)
		kf_node_recipe_free(rcs[i]);
	free(rcs);
	kf_recipe_inputs_free(in);
	free(iso_dir);
	return r;
}

/* The stage's input fingerprint: every node's rendered recipe and the installer's inputs. */
static int build_iso_fingerprint(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_recipe_inputs *in = NULL;
	const char *tpl_dir = kf_render_template_dir();
	char hex[KF_SHA256_HEX_LEN + 1];
	int r;

	if ((r = kf_recipe_inputs_load(&in, cfg, lab->out_dir, err)) != 0)
		return r;
	for (size_t i = 0; i < cfg->n_nodes && !r; i++) {
		struct kf_node_recipe *rc = NULL;
		if ((r = kf_recipe_render_node(&rc, cfg, in, cfg->nodes[i].name, tpl_dir, err)) == 0) {
			seed_fp(rc, cfg->guest.image != NULL, hex);
			kf_fp_str(fp, cfg->nodes[i].name, hex);
		}
		kf_node_recipe_free(rc);
	}
	if (cfg->guest.image) {
		payload_fp(in, hex);
		kf_fp_str(fp, "payload", hex);
	} else {
		installer_fp(cfg, in, tpl_dir, hex);
		kf_fp_str(fp, "installer", hex);
	}
	kf_recipe_inputs_free(in);
	return r;
}

/* The outputs are still there. */
static int build_iso_check(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	char *iso_dir = kf_lab_path(lab, KF_OUT_ISO_DIR);
	int r = 0;

	if (!iso_dir)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (size_t i = 0; i <= cfg->n_nodes && !r; i++) {
		char name[300], *img, *side;

		if (i == cfg->n_nodes)
			snprintf(name, sizeof(name), "%s", shared_name(cfg));
		else
			snprintf(name, sizeof(name), "seed-%s.iso", cfg->nodes[i].name);
		img = kf_path_join(iso_dir, name);
		side = sidecar_path(iso_dir, name);
		if (!img || !side)
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
		else if (!kf_fs_exists(img))
			r = kf_err_set(err, KF_ENOTFOUND, "iso/%s is missing", name);
		/* its record: the image was on disk in full (a run cut short before that leaves
		 * none, see unrecord) */
		else if (!kf_fs_exists(side))
			r = kf_err_set(err, KF_ENOTFOUND,
				       "iso/%s was not recorded as complete (a run cut short)", name);
		free(img);
		free(side);
	}
	free(iso_dir);
	return r;
}

const struct kf_stage_def kf_stage_build_iso = {
	.name = "build-iso",
	.fingerprint = build_iso_fingerprint,
	.check = build_iso_check,
	.run = build_iso_run,
};

