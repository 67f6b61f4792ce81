/* kf_buf: the one growable byte/string buffer, with a hard size limit so input from outside
 * cannot grow it without bound. The data is always NUL-terminated. */
#ifndef K3SFORGE_BUF_H
#define K3SFORGE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kf_buf {
	char *data;    /* NUL-terminated; NULL until first append */
	size_t len;
	size_t cap;
	size_t max;    /* 0 = KF_BUF_DEFAULT_MAX */
};

#define KF_BUF_DEFAULT_MAX ((size_t)256 * 1024 * 1024)
#define KF_BUF_INIT { NULL, 0, 0, 0 }

/* Initialises with a maximum size (0 for the default). */
void kf_buf_init(struct kf_buf *b, size_t max);
/* Appends bytes; KF_ELIMIT if the result would exceed max, KF_ENOMEM on allocation failure. */
int kf_buf_append(struct kf_buf *b, const void *data, size_t len);
int kf_buf_puts(struct kf_buf *b, const char *s);
int kf_buf_putc(struct kf_buf *b, char c);
int kf_buf_printf(struct kf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kf_buf_vprintf(struct kf_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Empties the buffer, keeping its memory. */
void kf_buf_reset(struct kf_buf *b);
/* Returns the contents (never NULL: "" for an empty buffer); always valid until the next change. */
const char *kf_buf_str(const struct kf_buf *b);
/* Hands the data to the caller (free() it) and empties the buffer. Never NULL unless ENOMEM. */
char *kf_buf_detach(struct kf_buf *b);
/* Wipes the contents (for secrets) and frees. */
void kf_buf_free_secret(struct kf_buf *b);
/* Wipes len bytes at p, then frees p (OpenBSD's freezero): for keys, tokens, passwords and what
 * held them. p may be NULL. */
void kf_freezero(void *p, size_t len);
/* kf_freezero of a secret string's characters (s may be NULL). */
void kf_freezero_str(char *s);
void kf_buf_free(struct kf_buf *b);

/* A NUL-terminated copy of s[0..len) in which every invalid UTF-8 sequence (and NUL) is replaced
 * by U+FFFD, so it can go into JSON. Caller frees; NULL on ENOMEM. */
char *kf_utf8_valid(const char *s, size_t len);

#define KF_UTF8_INVALID ((uint32_t)0xffffffffu)
/* Decodes the UTF-8 sequence at s (at most n bytes): returns its length and sets *cp, or returns
 * 0 with *cp = KF_UTF8_INVALID for an invalid one (overlong form, surrogate, above U+10FFFF,
 * truncated, stray continuation byte); a NUL byte returns 0 with *cp = 0. */
size_t kf_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Characters that break a line or a quoting context in YAML 1.1 (PyYAML: cloud-init, subiquity),
 * shell, systemd units or GRUB: every C0 control, DEL, every C1 control (U+0080-U+009F, incl.
 * NEL U+0085), U+2028, U+2029, the non-characters U+FFFE and U+FFFF (not printable to YAML),
 * and invalid UTF-8. `allow` (KF_TEXT_*) lets tab, LF, or CR in a
 * CRLF pair through. */
#define KF_TEXT_TAB 1u
#define KF_TEXT_LF 2u
#define KF_TEXT_CRLF 4u
bool kf_text_char_unsafe(uint32_t cp, unsigned allow);
/* Offset of the first unsafe character in s[0..n) (n when none); *cp (may be NULL) is its code
 * point, KF_UTF8_INVALID for an invalid UTF-8 byte, 0 for NUL. */
size_t kf_text_find_unsafe(const char *s, size_t n, unsigned allow, uint32_t *cp);

#endif
