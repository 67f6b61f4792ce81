/* ISO images: the remastered Ubuntu live-server installer through libisoburn's xorriso API
 * (xorriso as a library, GPLv2+: GRUB autoinstall entry, /k3sforge/ payload, BIOS and UEFI boot
 * replayed from the source, src/iso/iso.c), and the data ISOs — the per-node NoCloud seeds
 * (volume label cidata) and image mode's payload CD — through libisofs directly
 * (src/iso/data.c). Outputs are written under a temporary name and renamed, and not fsynced:
 * the caller makes them durable before it records them as complete (build-iso, flush.h). */
#ifndef K3SFORGE_ISO_H
#define K3SFORGE_ISO_H

#include <stddef.h>

#include "k3sforge/err.h"

/* A file put into an image: disk_path → iso_path (absolute inside the image). */
struct kf_iso_file {
	const char *disk_path;
	const char *iso_path;
};

struct kf_iso_remaster {
	const char *src;             /* the Ubuntu live-server ISO */
	const char *dst;             /* the output image */
	const char *work_dir;        /* scratch space (created; files left for inspection) */
	const char *tpl_dir;         /* grub-autoinstall.cfg from here; NULL = kf_render_template_dir */
	const struct kf_iso_file *files; /* added or replaced files */
	size_t n_files;
	const char *progress_what;   /* label of the progress line; NULL = "remaster <dst>" */
};

/* Refuses an image that is not an Ubuntu live-server ISO (no /casper, no /.disk/info) with
 * KF_EUNSUPPORTED; KF_ENOTFOUND/KF_EPARSE when it cannot be read as an ISO at all. */
int kf_iso_check_ubuntu(const char *path, struct kf_err *err);
/* Refuses (KF_EUNSUPPORTED) an Ubuntu ISO whose /.disk/info is not "Ubuntu-Server 22.04.5":
 * older 22.04 installers lack the offline apt fallback the recipe relies on (src/iso/pool.c). */
int kf_iso_check_release(const char *path, struct kf_err *err);
/* Checks that the offline installer of the ISO can install each of names[0..n) (a package
 * name, optionally "=version"): a .deb of it in the ISO's pool/, or the package in a casper
 * manifest of the installed system (not the *.installer* ones). KF_ECONFIG naming every
 * missing one and the fix (guest.packages, guest.debs). */
int kf_iso_check_packages(const char *path, const char *const *names, size_t n,
			  struct kf_err *err);
/* Remasters spec->src into spec->dst: GRUB (boot/grub/grub.cfg and, when present,
 * loopback.cfg) gets the autoinstall entry as default with a short timeout, md5sum.txt is
 * updated for the edited files, the files are added, and the boot equipment of the source is
 * replayed (`-boot_image any replay`). Reports progress. */
int kf_iso_remaster(const struct kf_iso_remaster *spec, struct kf_err *err);
/* Writes a NoCloud seed ISO (volume id "cidata", Rock Ridge + Joliet) with the files.
 * Directories in the iso_paths are made; only regular files (symlinks followed) are taken.
 * Must not run while an xorriso session (kf_iso_remaster, the kf_iso_check_* calls) is open
 * in another thread of the process: libisofs's message queue is process-wide. */
int kf_iso_write_seed(const char *dst, const struct kf_iso_file *files, size_t n,
		      struct kf_err *err);
/* The same with another volume id (image mode's payload CD, KF_PAYLOAD_LABEL). Mode 0600. */
int kf_iso_write_data(const char *dst, const char *volid, const struct kf_iso_file *files,
		      size_t n, struct kf_err *err);
/* The GRUB edit on its own (pure): cfg text in, edited text out (caller frees). The default
 * entry is rendered from tpl_dir/grub-autoinstall.cfg with the kernel, arguments and initrd
 * of cfg's first menuentry. `name` is used in messages. */
int kf_iso_grub_edit(char **out, const char *cfg, const char *name, const char *tpl_dir,
		     struct kf_err *err);

#endif
