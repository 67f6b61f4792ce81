/* POSIX side of the platform layer: WSL detection, terminals, clocks, signals. */
#include "k3sforge/platform.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Written by the signal handler, read by every thread (mirror workers, node threads): a
 * lock-free atomic is both async-signal-safe and race-free (C11 7.14.1.1p5, 7.17.5). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the interrupt flag must be a lock-free atomic");
static atomic_int interrupted;

bool kf_platform_is_wsl(void)
{
	const char *override = getenv("K3SFORGE_WSL");
	char buf[256] = { 0 };
	FILE *f;

	if (override && *override)
		return strcmp(override, "1") == 0;
	if (getenv("WSL_DISTRO_NAME"))
		return true;
	f = fopen("/proc/sys/kernel/osrelease", "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strcasestr(buf, "microsoft") != NULL || strcasestr(buf, "wsl") != NULL;
}

bool kf_platform_isatty(int fd)
{
	return isatty(fd) == 1;
}

void kf_platform_utf8_console(void)
{
	/* POSIX terminals take UTF-8 bytes as they are; k3sforge writes UTF-8 everywhere. The
	 * Windows implementation sets the console code page to 65001 (see platform.h). */
}

double kf_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double kf_now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void kf_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (ms <= 0)
		return;
	nanosleep(&ts, NULL);
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&interrupted, 1);
}

bool kf_interrupted(void)
{
	return atomic_load(&interrupted) != 0;
}

void kf_platform_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void kf_format_rfc3339(double t, char *out, unsigned long n)
{
	time_t s = (time_t)t;
	struct tm tm;
	char base[32];
	int ms = (int)((t - (double)s) * 1000.0);

	if (ms < 0)
		ms = 0;
	if (ms > 999)
		ms = 999;
	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "%s.%03dZ", base, ms);
}
