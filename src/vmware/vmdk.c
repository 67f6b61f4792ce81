/* Node disks: vmware-vdiskmanager, or a monolithicSparse VMDK written here. Layout of the file
 * we write (sectors of 512 bytes), after vmware/open-vmdk's SparseExtentHeader:
 *   0            header
 *   1..20        embedded descriptor (text, NUL padded)
 *   21           redundant grain directory, then its grain tables
 *   ...          grain directory, then its grain tables
 *   overHead     first grain (rounded up to a grain boundary); nothing allocated yet
 * Grain tables are zero (no grain allocated), so they are left as holes in the file. */
#include "k3sforge/vmdk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/proc.h"

#define SECTOR 512u
#define GRAIN_SECTORS 128u     /* 64 KiB grains */
#define GTES_PER_GT 512u
#define DESC_OFFSET 1u
#define DESC_SECTORS 20u
#define MAGIC 0x564d444bu      /* "KDMV" on disk */
#define FLAG_NL_DETECT 0x1u
#define FLAG_RGD 0x2u

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t w = pwrite(fd, p, len, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Writes one grain directory whose tables start at gt_start. */
static int write_gd(int fd, uint64_t gd_sector, uint64_t gt_start, uint64_t n_gts)
{
	size_t bytes = (size_t)n_gts * 4;
	unsigned char *gd = malloc(bytes);
	int r;

	if (!gd)
		return -1;
	for (uint64_t i = 0; i < n_gts; i++)
		put32(gd + 4 * i, (uint32_t)(gt_start + i * (GTES_PER_GT * 4 / SECTOR)));
	r = pwrite_all(fd, gd, bytes, (off_t)(gd_sector * SECTOR));
	free(gd);
	return r;
}

int kf_vmdk_write_sparse(const char *path, int size_gb, const char *adapter_type, int hw_version,
			 struct kf_err *err)
{
	uint64_t capacity, n_gts, gd_sectors, gt_sectors, rgd, gd, end, overhead;
	unsigned char hdr[SECTOR];
	char desc[DESC_SECTORS * SECTOR];
	char *tmp = NULL;
	const char *base = strrchr(path, '/');
	uint32_t cid = 0;
	unsigned heads, secs;
	uint64_t cyl;
	int fd = -1, n, e, r;

	if (size_gb < 1 || size_gb > KF_VMDK_MAX_GB)
		return kf_err_set(err, KF_ECONFIG, "%s: disk size %d GB is outside 1..%d GB", path,
				  size_gb, KF_VMDK_MAX_GB);
	if (!adapter_type)
		adapter_type = "lsilogic";
	base = base ? base + 1 : path;
	if (strchr(base, '"'))
		return kf_err_set(err, KF_EUSAGE, "%s: a disk file name cannot contain '\"'", path);
	capacity = (uint64_t)size_gb * (1024ull * 1024 * 1024 / SECTOR);
	n_gts = (capacity + (uint64_t)GTES_PER_GT * GRAIN_SECTORS - 1) /
		((uint64_t)GTES_PER_GT * GRAIN_SECTORS);
	gd_sectors = (n_gts * 4 + SECTOR - 1) / SECTOR;
	gt_sectors = n_gts * (GTES_PER_GT * 4 / SECTOR);
	rgd = DESC_OFFSET + DESC_SECTORS;
	gd = rgd + gd_sectors + gt_sectors;
	end = gd + gd_sectors + gt_sectors;
	overhead = (end + GRAIN_SECTORS - 1) / GRAIN_SECTORS * GRAIN_SECTORS;

	memset(hdr, 0, sizeof(hdr));
	put32(hdr + 0, MAGIC);
	put32(hdr + 4, 1);
	put32(hdr + 8, FLAG_NL_DETECT | FLAG_RGD);
	put64(hdr + 12, capacity);
	put64(hdr + 20, GRAIN_SECTORS);
	put64(hdr + 28, DESC_OFFSET);
	put64(hdr + 36, DESC_SECTORS);
	put32(hdr + 44, GTES_PER_GT);
	put64(hdr + 48, rgd);
	put64(hdr + 56, gd);
	put64(hdr + 64, overhead);
	hdr[72] = 0;     /* uncleanShutdown */
	hdr[73] = '\n';  /* newline detector: "\n", " ", "\r\n" */
	hdr[74] = ' ';
	hdr[75] = '\r';
	hdr[76] = '\n';
	/* compressAlgorithm (77..78) = 0: none */

	if (RAND_bytes((unsigned char *)&cid, sizeof(cid)) != 1)
		cid = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	if (cid == 0xffffffffu)
		cid = 1;
	if (strcmp(adapter_type, "ide") == 0) {
		heads = 16;
		secs = 63;
		cyl = capacity / (heads * secs);
		if (cyl > 16383)
			cyl = 16383;
	} else {
		heads = 255;
		secs = 63;
		cyl = capacity / (heads * secs);
		if (cyl > 65535)
			cyl = 65535;
	}
	memset(desc, 0, sizeof(desc));
	n = snprintf(desc, sizeof(desc),
		     "# Disk DescriptorFile\n"
		     "version=1\n"
		     "encoding=\"UTF-8\"\n"
		     "CID=%08x\n"
		     "parentCID=ffffffff\n"
		     "createType=\"monolithicSparse\"\n"
		     "\n"
		     "# Extent description\n"
		     "RW %llu SPARSE \"%s\"\n"
		     "\n"
		     "# The Disk Data Base\n"
		     "#DDB\n"
		     "\n"
		     "ddb.virtualHWVersion = \"%d\"\n"
		     "ddb.geometry.cylinders = \"%llu\"\n"
		     "ddb.geometry.heads = \"%u\"\n"
		     "ddb.geometry.sectors = \"%u\"\n"
		     "ddb.adapterType = \"%s\"\n",
		     cid, (unsigned long long)capacity, base, hw_version, (unsigned long long)cyl,
		     heads, secs, adapter_type);
	if (n < 0 || (size_t)n >= sizeof(desc))
		return kf_err_set(err, KF_ELIMIT, "%s: disk descriptor does not fit in %u sectors",
				  path, DESC_SECTORS);

	/* a fresh O_EXCL name: a planted file or symlink is never written through */
	if ((r = kf_fs_temp_open(path, 0644, &fd, &tmp, err)) != 0)
		return r;
	if (pwrite_all(fd, hdr, sizeof(hdr), 0) != 0 ||
	    pwrite_all(fd, desc, sizeof(desc), (off_t)DESC_OFFSET * SECTOR) != 0 ||
	    write_gd(fd, rgd, rgd + gd_sectors, n_gts) != 0 ||
	    write_gd(fd, gd, gd + gd_sectors, n_gts) != 0 ||
	    ftruncate(fd, (off_t)(overhead * SECTOR)) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		free(tmp);
		return kf_err_set(err, KF_EIO, "%s: write failed: %s%s", path, strerror(e),
				  e == ENOSPC ? " (free some disk space and run again)" : "");
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		free(tmp);
		return kf_err_set(err, KF_EIO, "%s: %s", path, strerror(e));
	}
	free(tmp);
	kf_debug("wrote sparse VMDK %s: %d GiB, %llu sectors of metadata", path, size_gb,
		 (unsigned long long)overhead);
	return 0;
}

int kf_vmdk_check_size(const char *vdiskmanager, int size_gb, struct kf_err *err)
{
	if (size_gb < 1 || size_gb > KF_VMDK_MAX_GB)
		return kf_err_set(err, KF_ECONFIG, "disk size %d GiB is outside 1..%d GiB", size_gb,
				  KF_VMDK_MAX_GB);
	if (!vdiskmanager && size_gb > KF_VMDK_SPARSE_MAX_GB)
		return kf_err_set(err, KF_EUNSUPPORTED,
				  "disk size %d GiB is over the %d GiB a sparse VMDK written without "
				  "vmware-vdiskmanager can address (32-bit grain table entries); "
				  "install Workstation's vmware-vdiskmanager next to vmrun, or use a "
				  "disk of at most %d GiB",
				  size_gb, KF_VMDK_SPARSE_MAX_GB, KF_VMDK_SPARSE_MAX_GB);
	return 0;
}

int kf_vmdk_create(const char *vdiskmanager, const char *path, const char *path_for_tool,
		   int size_gb, int hw_version, int timeout_s, struct kf_err *err)
{
	char size[32];
	struct kf_proc p;
	int r;

	if ((r = kf_vmdk_check_size(vdiskmanager, size_gb, err)) != 0)
		return kf_err_wrap(err, "%s", path);
	if (!vdiskmanager)
		return kf_vmdk_write_sparse(path, size_gb, "lsilogic", hw_version, err);
	if (size_gb < 1 || size_gb > KF_VMDK_MAX_GB)
		return kf_err_set(err, KF_ECONFIG, "%s: disk size %d GB is outside 1..%d GB", path,
				  size_gb, KF_VMDK_MAX_GB);
	snprintf(size, sizeof(size), "%dGB", size_gb);
	{
		const char *argv[] = { vdiskmanager, "-c", "-s", size, "-a", "lsilogic", "-t", "0",
				       path_for_tool ? path_for_tool : path, NULL };
		memset(&p, 0, sizeof(p));
		p.argv = argv;
		p.timeout_ms = timeout_s > 0 ? timeout_s * 1000 : 0;
		r = kf_proc_run_ok(&p, err);
		kf_proc_free(&p);
	}
	if (r)
		return kf_err_wrap(err, "creating disk %s", path);
	if (!kf_fs_exists(path))
		return kf_err_set(err, KF_EIO, "%s: %s reported success but the disk is not there",
				  path, vdiskmanager);
	return 0;
}

int kf_vmdk_read_capacity(const char *path, uint64_t *bytes, struct kf_err *err)
{
	unsigned char hdr[SECTOR];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*bytes = 0;
	if (fd < 0)
		return kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO, "%s: %s", path,
				  strerror(errno));
	n = pread(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (n != (ssize_t)sizeof(hdr) || hdr[0] != 'K' || hdr[1] != 'D' || hdr[2] != 'M' ||
	    hdr[3] != 'V')
		return kf_err_set(err, KF_EPARSE, "%s: not a sparse VMDK (no KDMV header)", path);
	*bytes = get64(hdr + 12) * SECTOR;
	return 0;
}

/* Runs qemu-img with argv[1..] (argv[0] is set here); *out (may be NULL) gets stdout. */
static int qemu_img(const char *prog, const char **argv, int timeout_s, char **out,
		    struct kf_err *err)
{
	struct kf_proc p;
	int r;

	memset(&p, 0, sizeof(p));
	argv[0] = prog;
	p.argv = argv;
	p.timeout_ms = timeout_s > 0 ? timeout_s * 1000 : 0;
	p.out_max = 1024 * 1024;
	r = kf_proc_run_ok(&p, err);
	if (r == 0 && out && !(*out = strdup(kf_buf_str(&p.out))))
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
	kf_proc_free(&p);
	return r;
}

int kf_vmdk_from_image(const char *path, const char *image, int size_gb, int timeout_s,
		       struct kf_err *err)
{
	char *prog = kf_proc_which("qemu-img"), *info = NULL, *grown = NULL, *tmp = NULL;
	char size[32], fmt[32] = "";
	long long vsize = -1;
	const char *s;
	int r;

	if (!prog)
		return kf_err_set(err, KF_ENOTFOUND, "guest.image on VMware needs qemu-img to make "
				  "the disks: install qemu-utils (Debian/Ubuntu)");
	if (asprintf(&grown, "%s.grow.qcow2", path) < 0 || asprintf(&tmp, "%s.tmp", path) < 0) {
		grown = tmp = NULL;
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	{
		const char *argv[] = { NULL, "info", "--output=json", image, NULL };
		if ((r = qemu_img(prog, argv, timeout_s, &info, err)) != 0) {
			kf_err_wrap(err, "guest.image %s", image);
			goto out;
		}
	}
	/* "format": "qcow2", "virtual-size": N (qemu-img's ImageInfo JSON) */
	if ((s = strstr(info, "\"format\": \"")) != NULL)
		sscanf(s + 11, "%31[^\"]", fmt);
	if ((s = strstr(info, "\"virtual-size\": ")) != NULL)
		vsize = atoll(s + 16);
	if (!fmt[0] || vsize < 0) {
		r = kf_err_set(err, KF_EPARSE, "qemu-img info %s: no format or size", image);
		goto out;
	}
	if (vsize > (long long)size_gb << 30) {
		r = kf_err_set(err, KF_ECONFIG, "%s: disk %d GiB is smaller than guest.image %s "
			       "(%.1f GiB)", path, size_gb, image, (double)vsize / (1 << 30));
		goto out;
	}
	/* grown first as a copy-on-write overlay, then written out as one monolithicSparse VMDK
	 * with the adapter the VMX names (qemu-img's vmdk options subformat, adapter_type): one
	 * pass per node, and no vmware-vdiskmanager needed to grow it */
	snprintf(size, sizeof(size), "%dG", size_gb);
	{
		const char *argv[] = { NULL, "create", "-q", "-f", "qcow2", "-b", image, "-F", fmt,
				       grown, size, NULL };
		if ((r = qemu_img(prog, argv, timeout_s, NULL, err)) != 0)
			goto out;
	}
	{
		const char *argv[] = { NULL, "convert", "-q", "-O", "vmdk", "-o",
				       "subformat=monolithicSparse,adapter_type=lsilogic", grown, tmp,
				       NULL };
		if ((r = qemu_img(prog, argv, timeout_s * 10, NULL, err)) != 0)
			goto out;
	}
	if (rename(tmp, path) != 0)
		r = kf_err_set(err, KF_EIO, "rename %s: %s", tmp, strerror(errno));
out:
	if (grown)
		unlink(grown);
	if (tmp && r)
		unlink(tmp);
	free(prog);
	free(info);
	free(grown);
	free(tmp);
	return r;
}
