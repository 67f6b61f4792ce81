/* One ustar header block, shared by the backup archive and the doctor bundle (internal). */
#ifndef K3SFORGE_OPS_TAR_OUT_H
#define K3SFORGE_OPS_TAR_OUT_H

#include <stdint.h>
#include <time.h>

/* Fills h with the header of a regular file (name shorter than 100 bytes). */
void kf_tar_header_block(char h[512], const char *name, uint64_t size, unsigned mode,
			 time_t mtime);

#endif
