/* libFuzzer target: the ustar header layer shared by the bundle, the backup and the doctor
 * bundle (src/core/tar.c). Any 512-byte block is read without overrunning it; a numeric field
 * read back from a header k3sforge wrote is the number written; a written header's checksum
 * holds. Build and run: tests/fuzz/fuzz.sh tar [seconds]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char h[KF_TAR_BLOCK];
	uint64_t v, size_in = 0;
	char name[100];

	/* any block: every numeric field and the checksum, from a copy of exactly 512 bytes */
	memset(h, 0, sizeof(h));
	memcpy(h, data, size < sizeof(h) ? size : sizeof(h));
	(void)kf_tar_checksum_ok(h);
	(void)kf_tar_number(h + 100, 8, &v);
	(void)kf_tar_number(h + 124, 12, &v);
	(void)kf_tar_number(h + 136, 12, &v);
	/* a header written from fuzzed values reads back */
	for (size_t i = 0; i < 8 && i < size; i++)
		size_in = (size_in << 8) | data[i];
	memset(name, 0, sizeof(name));
	if (size > 8)
		memcpy(name, data + 8, size - 8 < sizeof(name) - 1 ? size - 8 : sizeof(name) - 1);
	kf_tar_header(h, name, size_in, 0644, (time_t)(size_in & 0xffffffff));
	if (!kf_tar_checksum_ok(h) || !kf_tar_number(h + 124, 12, &v) || v != size_in)
		abort();
	if (strncmp((const char *)h, name, strnlen(name, 99)) != 0)
		abort();
	return 0;
}
