/* The logger. Text lines "yyyy-MM-dd HH:mm:ss LEVEL message" on stderr (colour only on a
 * terminal), a full copy in the log file, or JSON events on stdout with --json. Secrets are
 * masked in every sink. */
#include "k3sforge/log.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/err.h"
#include "k3sforge/platform.h"

/* Enough for every token, password and key of a large lab; registering more aborts rather than
 * let a secret through unmasked. */
#define MAX_SECRETS 4096

static struct {
	pthread_mutex_t mu;
	enum kf_log_level level;
	bool json;
	bool color;
	bool ascii;
	FILE *text;      /* NULL = stderr */
	FILE *jsonout;   /* NULL = stdout */
	FILE *file;
	char **secrets;
	int cap_secrets;
	int n_secrets;
	void (*live_clear)(FILE *);
	void (*live_redraw)(FILE *);
	void (*event_hook)(const char *, const json_t *);
} L = { PTHREAD_MUTEX_INITIALIZER, KF_LOG_INFO, false, false, false, NULL, NULL, NULL, NULL, 0, 0,
	NULL, NULL, NULL };

static const char *level_names[] = { "DEBUG", "INFO", "OK", "WARN", "ERROR" };
static const char *level_json[] = { "debug", "info", "ok", "warn", "error" };
static const char *level_colors[] = { "\033[2m", "\033[36m", "\033[32m", "\033[33m", "\033[31m" };

static FILE *text_stream(void)
{
	return L.text ? L.text : stderr;
}

static FILE *json_stream(void)
{
	return L.jsonout ? L.jsonout : stdout;
}

void kf_log_init(const struct kf_log_opts *opts)
{
	const char *nc = getenv("NO_COLOR");

	pthread_mutex_lock(&L.mu);
	L.level = opts->level;
	L.json = opts->json;
	/* NO_COLOR (set and not empty, no-color.org) wins over everything; JSON never has colour. */
	if ((nc && *nc) || opts->json || opts->color == KF_COLOR_NEVER)
		L.color = false;
	else if (opts->color == KF_COLOR_ALWAYS)
		L.color = true;
	else
		L.color = kf_platform_isatty(fileno(text_stream()));
	pthread_mutex_unlock(&L.mu);
}

void kf_log_set_streams(FILE *text, FILE *json)
{
	pthread_mutex_lock(&L.mu);
	L.text = text;
	L.jsonout = json;
	pthread_mutex_unlock(&L.mu);
}

int kf_log_open_file(const char *path)
{
	/* "e": close-on-exec, so spawned programs (a registry server) never hold the log open. */
	FILE *f = fopen(path, "ae");

	if (!f)
		return KF_EIO;
	pthread_mutex_lock(&L.mu);
	if (L.file)
		fclose(L.file);
	L.file = f;
	pthread_mutex_unlock(&L.mu);
	return 0;
}

void kf_log_close_file(void)
{
	pthread_mutex_lock(&L.mu);
	if (L.file)
		fclose(L.file);
	L.file = NULL;
	pthread_mutex_unlock(&L.mu);
}

void kf_log_add_secret(const char *secret)
{
	if (!secret || strlen(secret) < 4)
		return;
	pthread_mutex_lock(&L.mu);
	for (int i = 0; i < L.n_secrets; i++) {
		if (strcmp(L.secrets[i], secret) == 0) {
			pthread_mutex_unlock(&L.mu);
			return;
		}
	}
	if (L.n_secrets == L.cap_secrets) {
		int cap = L.cap_secrets ? L.cap_secrets * 2 : 16;
		char **grown = cap <= MAX_SECRETS ? realloc(L.secrets, sizeof(char *) * (size_t)cap)
						  : NULL;
		if (!grown) {
			fprintf(stderr, "k3sforge: cannot register more secrets to mask; stopping so "
					"none is printed\n");
			abort();
		}
		L.secrets = grown;
		L.cap_secrets = cap;
	}
	{
		char *copy = strdup(secret);
		if (!copy) {
			fprintf(stderr, "k3sforge: out of memory registering a secret\n");
			abort();
		}
		L.secrets[L.n_secrets++] = copy;
	}
	pthread_mutex_unlock(&L.mu);
}

void kf_log_shutdown(void)
{
	pthread_mutex_lock(&L.mu);
	for (int i = 0; i < L.n_secrets; i++) {
		OPENSSL_cleanse(L.secrets[i], strlen(L.secrets[i]));
		free(L.secrets[i]);
		L.secrets[i] = NULL;
	}
	free(L.secrets);
	L.secrets = NULL;
	L.n_secrets = L.cap_secrets = 0;
	if (L.file)
		fclose(L.file);
	L.file = NULL;
	L.text = L.jsonout = NULL;
	L.live_clear = NULL;
	L.live_redraw = NULL;
	L.event_hook = NULL;
	L.ascii = false;
	pthread_mutex_unlock(&L.mu);
}

bool kf_log_json(void)
{
	return L.json;
}

void kf_log_set_json_ascii(bool on)
{
	pthread_mutex_lock(&L.mu);
	L.ascii = on;
	pthread_mutex_unlock(&L.mu);
}

bool kf_log_json_ascii(void)
{
	return L.ascii;
}

/* Reads L.ascii without the lock: it is set once at start-up, before any thread. */
char *kf_json_dumps(const json_t *v)
{
	size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(KF_EVENTS_REAL_DIGITS);

	/* UTF-8 as is by default (Korean text reaches a UTF-8 console readable and undoubled);
	 * \uXXXX escapes in ASCII mode, for consoles that guess the encoding (PowerShell 5.1). */
	if (L.ascii)
		flags |= JSON_ENSURE_ASCII;
	return json_dumps(v, flags);
}

bool kf_log_color(void)
{
	return L.color;
}

enum kf_log_level kf_log_level(void)
{
	return L.level;
}

/* A JSON string of s with invalid UTF-8 replaced by U+FFFD (jansson refuses invalid UTF-8, which
 * would silently drop the field, e.g. a message quoting a program's binary output). */
json_t *kf_json_text(const char *s)
{
	char *v = kf_utf8_valid(s, strlen(s));
	json_t *j = json_string(v ? v : "");

	free(v);
	return j;
}

/* Caller holds the mutex. */
static char *mask_locked(const char *s)
{
	struct kf_buf b;
	const char *p = s;

	kf_buf_init(&b, 0);
	while (*p) {
		int hit = -1;
		size_t hitlen = 0;
		for (int i = 0; i < L.n_secrets; i++) {
			size_t n = strlen(L.secrets[i]);
			if (n > hitlen && strncmp(p, L.secrets[i], n) == 0) {
				hit = i;
				hitlen = n;
			}
		}
		if (hit >= 0) {
			kf_buf_puts(&b, "***");
			p += hitlen;
		} else {
			kf_buf_putc(&b, *p++);
		}
	}
	return kf_buf_detach(&b);
}

char *kf_log_mask(const char *s)
{
	char *r;

	pthread_mutex_lock(&L.mu);
	r = mask_locked(s ? s : "");
	pthread_mutex_unlock(&L.mu);
	return r;
}

void kf_log_timestamp(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static void mask_json_locked(json_t *v)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_string(v)) {
		char *m = mask_locked(json_string_value(v));
		char *u = m ? kf_utf8_valid(m, strlen(m)) : NULL;
		/* If anything fails, drop the value rather than let a secret through. */
		if (!u || json_string_set(v, u) != 0)
			json_string_set(v, "***");
		free(u);
		free(m);
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, val)
			mask_json_locked(val);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, val)
			mask_json_locked(val);
	}
}

/* Caller holds the mutex. Writes one JSON event line to `f`. */
static void emit_json_locked(FILE *f, const char *type, json_t *fields)
{
	char ts[40];
	json_t *o = json_object();
	char *text;

	kf_format_rfc3339(kf_now_wall(), ts, sizeof(ts));
	json_object_set_new(o, "type", kf_json_text(type));
	json_object_set_new(o, "v", json_integer(KF_EVENTS_VERSION));
	json_object_set_new(o, "time", json_string(ts));
	if (fields) {
		mask_json_locked(fields);
		/* "type", "v" and "time" are ours; a field of the same name does not replace them. */
		json_object_update_missing(o, fields);
	}
	text = kf_json_dumps(o);
	if (text) {
		fputs(text, f);
		fputc('\n', f);
		fflush(f);
		free(text);
	}
	json_decref(o);
}

/* Writes msg as one or more lines, each with the timestamp and level, so that a message with
 * embedded newlines (a program's output) keeps every line of the log starting with a time. */
static void write_lines(FILE *f, const char *ts, enum kf_log_level level, bool color,
			const char *msg)
{
	const char *p = msg ? msg : "";

	do {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		if (color)
			fprintf(f, "\033[2m%s\033[0m %s%-5s\033[0m %.*s\n", ts, level_colors[level],
				level_names[level], len, p);
		else
			fprintf(f, "%s %-5s %.*s\n", ts, level_names[level], len, p);
		p = nl ? nl + 1 : NULL;
	} while (p && *p);
	fflush(f);
}

/* A log line; `always` ignores the threshold (the final line that -q keeps). */
static void log_v(enum kf_log_level level, bool always, const char *fmt, va_list ap)
{
	char ts[32];
	struct kf_buf raw;
	char *msg;

	if ((int)level < KF_LOG_DEBUG || level > KF_LOG_ERROR)
		level = KF_LOG_ERROR;
	kf_buf_init(&raw, 1024 * 1024);
	kf_buf_vprintf(&raw, fmt, ap);
	kf_log_timestamp(ts, sizeof(ts));

	pthread_mutex_lock(&L.mu);
	msg = mask_locked(kf_buf_str(&raw));
	if (L.file)
		write_lines(L.file, ts, level, false, msg);
	if (level >= L.level || always) {
		if (L.json) {
			json_t *f = json_object();
			json_object_set_new(f, "level", json_string(level_json[level]));
			json_object_set_new(f, "msg", kf_json_text(msg ? msg : ""));
			emit_json_locked(json_stream(), "log", f);
			json_decref(f);
		} else {
			FILE *out = text_stream();
			if (L.live_clear)
				L.live_clear(out);
			write_lines(out, ts, level, L.color, msg);
			if (L.live_redraw)
				L.live_redraw(out);
		}
	}
	pthread_mutex_unlock(&L.mu);
	free(msg);
	kf_buf_free(&raw);
}

void kf_log(enum kf_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(level, false, fmt, ap);
	va_end(ap);
}

void kf_log_final(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(KF_LOG_OK, true, fmt, ap);
	va_end(ap);
}

void kf_log_event(const char *type, const char *fields_json)
{
	json_t *fields = NULL;

	if (fields_json) {
		json_error_t jerr;
		fields = json_loads(fields_json, 0, &jerr);
		if (fields && !json_is_object(fields)) {
			json_decref(fields);
			fields = NULL;
		}
	}
	void (*hook)(const char *, const json_t *);

	pthread_mutex_lock(&L.mu);
	if (L.json)
		emit_json_locked(json_stream(), type, fields);
	if (L.file) {
		if (fields) {
			/* mask before it reaches the file too */
			mask_json_locked(fields);
		}
		char *text = fields ? kf_json_dumps(fields) : NULL;
		char *mtype = mask_locked(type);
		char ts[32];
		kf_log_timestamp(ts, sizeof(ts));
		fprintf(L.file, "%s EVENT %s %s\n", ts, mtype ? mtype : "", text ? text : "{}");
		fflush(L.file);
		free(mtype);
		free(text);
	}
	hook = L.event_hook;
	pthread_mutex_unlock(&L.mu);
	/* Outside the lock: the hook draws, and drawing takes the lock. */
	if (hook)
		hook(type, fields);
	json_decref(fields);
}

void kf_log_set_event_hook(void (*fn)(const char *type, const json_t *fields))
{
	pthread_mutex_lock(&L.mu);
	L.event_hook = fn;
	pthread_mutex_unlock(&L.mu);
}

/* A line as it is (no level, no timestamp on the terminal): to the log file with a timestamp,
 * and, without --json, to out (stderr for raw lines, stdout for data), with the live line
 * cleared before and drawn again after. */
static void write_plain(bool data, const char *fmt, va_list ap)
{
	struct kf_buf raw;
	char *msg;

	kf_buf_init(&raw, 1024 * 1024);
	kf_buf_vprintf(&raw, fmt, ap);
	pthread_mutex_lock(&L.mu);
	msg = mask_locked(kf_buf_str(&raw));
	if (L.file) {
		/* Every line of the log file starts with a timestamp, raw lines too. */
		char ts[32];
		kf_log_timestamp(ts, sizeof(ts));
		write_lines(L.file, ts, KF_LOG_INFO, false, msg);
	}
	if (!L.json) {
		FILE *out = data ? json_stream() : text_stream();
		/* stdout and stderr are often the same terminal: no live line under the data */
		if (L.live_clear)
			L.live_clear(text_stream());
		fprintf(out, "%s\n", msg ? msg : "");
		fflush(out);
		if (L.live_redraw)
			L.live_redraw(text_stream());
	}
	pthread_mutex_unlock(&L.mu);
	free(msg);
	kf_buf_free(&raw);
}

void kf_log_raw(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	write_plain(false, fmt, ap);
	va_end(ap);
}

void kf_log_data(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	write_plain(true, fmt, ap);
	va_end(ap);
}

void kf_log_lock(void)
{
	pthread_mutex_lock(&L.mu);
}

void kf_log_unlock(void)
{
	pthread_mutex_unlock(&L.mu);
}

void kf_log_set_live_clear(void (*fn)(FILE *))
{
	/* Called with the lock held by progress.c, or at start-up. */
	L.live_clear = fn;
}

void kf_log_set_live_redraw(void (*fn)(FILE *))
{
	/* Called with the lock held by progress.c. */
	L.live_redraw = fn;
}

FILE *kf_log_text_stream(void)
{
	return text_stream();
}
