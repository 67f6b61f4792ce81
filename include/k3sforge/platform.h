/* What kind of host this is and the few things that differ between hosts. */
#ifndef K3SFORGE_PLATFORM_H
#define K3SFORGE_PLATFORM_H

#include <stdbool.h>

/* Running inside WSL (1 or 2)? Reads /proc/sys/kernel/osrelease and WSL_DISTRO_NAME. */
bool kf_platform_is_wsl(void);
/* Is fd a terminal? */
bool kf_platform_isatty(int fd);
/* Makes console output UTF-8 (Windows code page 65001; a no-op on POSIX where the locale rules). */
void kf_platform_utf8_console(void);
/* Monotonic seconds. */
double kf_now_mono(void);
/* Wall-clock seconds since the epoch with sub-second precision. */
double kf_now_wall(void);
/* Sleeps ms milliseconds (interruptible by signals: returns early). */
void kf_sleep_ms(long ms);
/* Set by SIGINT/SIGTERM handlers installed by kf_platform_install_signals. */
bool kf_interrupted(void);
void kf_platform_install_signals(void);
/* Formats seconds-since-epoch as RFC 3339 UTC ("2026-11-22T03:00:04.123Z"). */
void kf_format_rfc3339(double t, char *out, unsigned long n);

#endif
