/* ustar header blocks (see tar.h). */
#include "k3sforge/tar.h"

#include <stdio.h>
#include <string.h>

/* len-1 zero-padded octal digits and a NUL; v must fit. */
static void octal(unsigned char *field, size_t len, uint64_t v)
{
	for (size_t i = len - 1; i > 0; i--) {
		field[i - 1] = (unsigned char)('0' + (v & 7));
		v >>= 3;
	}
	field[len - 1] = '\0';
}

void kf_tar_header(unsigned char h[KF_TAR_BLOCK], const char *name, uint64_t size, unsigned mode,
		   time_t mtime)
{
	unsigned sum = 0;
	size_t nl = strnlen(name, 99);

	memset(h, 0, KF_TAR_BLOCK);
	memcpy(h, name, nl);
	octal(h + 100, 8, mode & 07777);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	if (size <= KF_TAR_OCTAL_SIZE_MAX) {
		octal(h + 124, 12, size);
	} else {
		h[124] = 0x80;
		for (int i = 0; i < 8; i++)
			h[135 - i] = (unsigned char)(size >> (8 * i));
	}
	octal(h + 136, 12, (uint64_t)(mtime > 0 ? mtime : 0));
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < KF_TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

bool kf_tar_number(const unsigned char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	*out = 0;
	if (n == 0)
		return false;
	if (p[0] & 0x80) {
		/* base-256: 0x80 marks a positive number; 0xff would be negative */
		if (p[0] != 0x80)
			return false;
		for (i = 1; i < n; i++) {
			if (v > (UINT64_MAX >> 8))
				return false;
			v = (v << 8) | p[i];
		}
		*out = v;
		return true;
	}
	while (i < n && p[i] == ' ')
		i++;
	if (i == n || p[i] < '0' || p[i] > '7')
		return false;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return false;
		v = (v << 3) | (uint64_t)(p[i] - '0');
	}
	for (; i < n; i++)
		if (p[i] != ' ' && p[i] != '\0')
			return false;
	*out = v;
	return true;
}

bool kf_tar_checksum_ok(const unsigned char h[KF_TAR_BLOCK])
{
	uint64_t want;
	unsigned sum = 0;

	for (int i = 0; i < KF_TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return kf_tar_number(h + 148, 8, &want) && want == sum;
}

bool kf_tar_zero_block(const unsigned char b[KF_TAR_BLOCK])
{
	for (int i = 0; i < KF_TAR_BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

void kf_tar_pad_feed(struct kf_tar_pad *pad, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n && !pad->data; i++)
		pad->data = c[i] != 0;
	pad->len += n;
}

bool kf_tar_pad_ok(const struct kf_tar_pad *pad)
{
	return !pad->data && pad->len % KF_TAR_BLOCK == 0 && pad->len <= KF_TAR_PAD_MAX;
}
