/* Shared between vmrun.c (the calls) and vmrun_fault.c (the error classifier). Not a public
 * header. */
#ifndef K3SFORGE_VMRUN_INTERNAL_H
#define K3SFORGE_VMRUN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* The first "Error: ..." line (without the prefix) into buf; false if none. */
bool vmrun_error_line(const char *output, char *buf, size_t n);

#endif
