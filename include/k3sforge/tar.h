/* POSIX ustar headers, shared by the image bundle, the backup archive and the doctor bundle.
 * Sizes of 8 GiB and more use the GNU base-256 form (first byte 0x80, then the size big-endian
 * in the rest of the field), which GNU tar, bsdtar and Python's tarfile read. */
#ifndef K3SFORGE_TAR_H
#define K3SFORGE_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KF_TAR_BLOCK 512
/* The largest size the 12-byte octal field holds (8 GiB - 1). */
#define KF_TAR_OCTAL_SIZE_MAX 077777777777ULL

/* Fills h with the header of a regular file. name must be shorter than 100 bytes (the caller
 * checks: ustar's name field). */
void kf_tar_header(unsigned char h[KF_TAR_BLOCK], const char *name, uint64_t size, unsigned mode,
		   time_t mtime);

/* Reads a numeric header field of n bytes: octal digits after optional spaces, ended by
 * spaces or NULs, or the base-256 form. Returns false for anything else (no digit, a stray
 * byte, a negative base-256 value, overflow). */
bool kf_tar_number(const unsigned char *p, size_t n, uint64_t *out);

/* Checks a header block's checksum field against its content. */
bool kf_tar_checksum_ok(const unsigned char h[KF_TAR_BLOCK]);

/* Is the block all zeros (half of the end-of-archive marker, or padding after it)? */
bool kf_tar_zero_block(const unsigned char b[KF_TAR_BLOCK]);

/* The most padding a reader accepts after the two end-of-archive blocks: GNU tar, bsdtar and
 * Python's tarfile fill the archive's last record (blocking factor x 512 bytes, 10240 by
 * default) with zero blocks; 1 MiB covers a blocking factor of 2048. */
#define KF_TAR_PAD_MAX (1u << 20)

/* What follows the end-of-archive marker: whole zero blocks, KF_TAR_PAD_MAX bytes at most, and
 * nothing else. A reader feeds every byte after the marker (in any pieces), then asks
 * kf_tar_pad_ok; a data byte or too much padding makes it false ("data after the end"). */
struct kf_tar_pad {
	uint64_t len;      /* bytes fed so far */
	bool data;         /* a non-zero byte was seen */
};
void kf_tar_pad_feed(struct kf_tar_pad *pad, const void *p, size_t n);
/* Whole zero blocks (or nothing) within the bound. */
bool kf_tar_pad_ok(const struct kf_tar_pad *pad);

#endif
