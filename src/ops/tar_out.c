/* ustar header blocks (see tar_out.h). */
#include <stdio.h>
#include <string.h>

#include "tar_out.h"

/* len-1 zero-padded octal digits and a NUL (the caller keeps v within the field). */
static void octal(char *field, size_t len, uint64_t v)
{
	for (size_t i = len - 1; i > 0; i--) {
		field[i - 1] = (char)('0' + (v & 7));
		v >>= 3;
	}
	field[len - 1] = '\0';
}

void kf_tar_header_block(char h[512], const char *name, uint64_t size, unsigned mode,
			 time_t mtime)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	snprintf(h, 100, "%s", name);
	octal(h + 100, 8, mode & 07777);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, (uint64_t)(mtime > 0 ? mtime : 0));
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
}
