/* The logger: timestamped lines on the terminal (stderr), a full copy in <out>/k3sforge.log, or
 * newline-delimited JSON events on stdout with --json. Registered secrets are replaced by "***" in
 * every sink. Thread-safe. The only global mutable state of k3sforge besides the command line. */
#ifndef K3SFORGE_LOG_H
#define K3SFORGE_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum kf_log_level { KF_LOG_DEBUG = 0, KF_LOG_INFO, KF_LOG_OK, KF_LOG_WARN, KF_LOG_ERROR };

enum kf_color_mode { KF_COLOR_AUTO = 0, KF_COLOR_NEVER, KF_COLOR_ALWAYS };

struct kf_log_opts {
	enum kf_log_level level;  /* terminal threshold: INFO by default, DEBUG with -v, WARN with -q */
	bool json;                /* events on stdout instead of text on stderr */
	enum kf_color_mode color;
};

/* The schema version carried as "v" by every JSON event line (docs/events.md). Raised only when
 * a field changes meaning or goes away; new types and new fields keep it. */
#define KF_EVENTS_VERSION 1
/* Significant digits of real numbers in events: 8.44, not 8.4399999999999995. */
#define KF_EVENTS_REAL_DIGITS 10

/* Sets up sinks. Safe to call again (tests). Reads NO_COLOR. */
void kf_log_init(const struct kf_log_opts *opts);
/* Redirects the terminal sink (tests); NULL restores stderr / stdout. */
void kf_log_set_streams(FILE *text_stream, FILE *json_stream);
/* Opens (appends to) the log file copy; every level goes there. Returns 0 or KF_EIO. */
int kf_log_open_file(const char *path);
void kf_log_close_file(void);
/* Registers a secret (copied) to be masked as *** everywhere. Strings shorter than 4 bytes are
 * ignored (masking "a" would destroy every line). */
void kf_log_add_secret(const char *secret);
/* Forgets all secrets, closes the file (end of program, tests). */
void kf_log_shutdown(void);

bool kf_log_json(void);
bool kf_log_color(void);
enum kf_log_level kf_log_level(void);

void kf_log(enum kf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define kf_debug(...) kf_log(KF_LOG_DEBUG, __VA_ARGS__)
#define kf_info(...) kf_log(KF_LOG_INFO, __VA_ARGS__)
#define kf_ok(...) kf_log(KF_LOG_OK, __VA_ARGS__)
#define kf_warn(...) kf_log(KF_LOG_WARN, __VA_ARGS__)
#define kf_error(...) kf_log(KF_LOG_ERROR, __VA_ARGS__)

/* Replaces every registered secret in s by *** (caller frees the result). */
char *kf_log_mask(const char *s);

/* Emits one JSON event: {"type":type,"v":1,"time":...,<fields>}. `fields_json` is a JSON object text
 * (may be NULL); it is masked like any line. In text mode events go only to the log file. */
void kf_log_event(const char *type, const char *fields_json);
/* A JSON string (jansson) of s with invalid UTF-8 replaced by U+FFFD: json_string() returns NULL
 * for invalid UTF-8 and the field would vanish from the event. For any text from outside (error
 * messages, paths, program output). */
struct json_t *kf_json_text(const char *s);

/* The one JSON text format of k3sforge's output (compact, ordered, reals to
 * KF_EVENTS_REAL_DIGITS digits, \uXXXX escapes in ASCII mode); caller frees. For JSON documents a
 * command prints itself (doctor --json, status --json). */
char *kf_json_dumps(const struct json_t *v);
/* The ASCII-safe JSON mode (--json-ascii): non-ASCII escaped as \uXXXX. Set at start-up (before
 * any thread); kf_log_shutdown turns it off. */
void kf_log_set_json_ascii(bool on);
bool kf_log_json_ascii(void);

/* Called after every event (outside the logger's lock) with its type and fields (borrowed, may
 * be NULL): progress.c renders node_phase events as a live line this way. NULL removes it. */
void kf_log_set_event_hook(void (*fn)(const char *type, const struct json_t *fields));

/* A line of a command's result data (a table row, a finding): on stdout, copied to the log file
 * like a raw line; nothing in JSON mode (the command emits an event instead). */
void kf_log_data(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The one closing line of a command ("3 nodes ready in 4m12s"): an OK line that -q keeps. */
void kf_log_final(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Current local time as "yyyy-MM-dd HH:mm:ss" into out (at least 20 bytes). */
void kf_log_timestamp(char *out, size_t n);

/* Writes a raw line to the terminal sink (no timestamp; e.g. a table). Also copied to the file,
 * where it gets a timestamp and level like every other line. Nothing in JSON mode. */
void kf_log_raw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For progress rendering: lock/unlock the terminal so live lines and log lines don't interleave. */
void kf_log_lock(void);
void kf_log_unlock(void);
/* Clears a live progress line before a log line is printed (set by progress.c). */
void kf_log_set_live_clear(void (*fn)(FILE *));
/* Draws the live line again after a log line (set by progress.c, under the lock). */
void kf_log_set_live_redraw(void (*fn)(FILE *));
/* The terminal text stream (stderr unless redirected); use under kf_log_lock. */
FILE *kf_log_text_stream(void);

#endif
