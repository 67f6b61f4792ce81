/* kf_buf: growable buffer with a maximum size. */
#include "k3sforge/buf.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/err.h"

void kf_buf_init(struct kf_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static size_t buf_max(const struct kf_buf *b)
{
	return b->max ? b->max : KF_BUF_DEFAULT_MAX;
}

static int buf_reserve(struct kf_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > buf_max(b) || b->len > buf_max(b) - extra)
		return KF_ELIMIT;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return KF_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int kf_buf_append(struct kf_buf *b, const void *data, size_t len)
{
	int r;

	if ((r = buf_reserve(b, len)) != 0)
		return r;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int kf_buf_puts(struct kf_buf *b, const char *s)
{
	return kf_buf_append(b, s, strlen(s));
}

int kf_buf_putc(struct kf_buf *b, char c)
{
	return kf_buf_append(b, &c, 1);
}

int kf_buf_vprintf(struct kf_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, r;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return KF_EFAIL;
	if ((r = buf_reserve(b, (size_t)n)) != 0)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int kf_buf_printf(struct kf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = kf_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void kf_buf_reset(struct kf_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

const char *kf_buf_str(const struct kf_buf *b)
{
	return b->data ? b->data : "";
}

char *kf_buf_detach(struct kf_buf *b)
{
	char *p = b->data;

	if (!p)
		p = strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void kf_buf_free_secret(struct kf_buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	kf_buf_free(b);
}

void kf_buf_free(struct kf_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is invalid
 * (overlong forms, surrogates, code points above U+10FFFF, truncated sequences). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;

	return kf_utf8_decode((const char *)s, n, &cp);
}

size_t kf_utf8_decode(const char *str, size_t n, uint32_t *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len;
	uint32_t cp;

	*out = KF_UTF8_INVALID;
	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*out = s[0];
		return s[0] ? 1 : 0;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*out = cp;
	return len;
}

bool kf_text_char_unsafe(uint32_t cp, unsigned allow)
{
	if (cp == '\t')
		return !(allow & KF_TEXT_TAB);
	if (cp == '\n')
		return !(allow & KF_TEXT_LF);
	return cp == KF_UTF8_INVALID || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
	       cp == 0x2029 || cp == 0xfffe || cp == 0xffff;
}

size_t kf_text_find_unsafe(const char *s, size_t n, unsigned allow, uint32_t *cp)
{
	size_t i = 0;

	while (i < n) {
		uint32_t c;
		size_t k = kf_utf8_decode(s + i, n - i, &c);
		if (k && (allow & KF_TEXT_CRLF) && c == '\r' && i + 1 < n && s[i + 1] == '\n')
			k = 1; /* CR of a CRLF pair: the LF decides */
		else if (!k || kf_text_char_unsafe(c, allow))
			break;
		i += k;
	}
	if (cp) {
		*cp = 0;
		if (i < n)
			kf_utf8_decode(s + i, n - i, cp);
	}
	return i;
}

char *kf_utf8_valid(const char *s, size_t len)
{
	struct kf_buf b;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	kf_buf_init(&b, 0);
	if (kf_buf_append(&b, "", 0) != 0)
		return NULL;
	while (i < len) {
		size_t k = utf8_seq(p + i, len - i);
		int r;
		if (k) {
			r = kf_buf_append(&b, p + i, k);
			i += k;
		} else {
			r = kf_buf_puts(&b, "\xef\xbf\xbd");
			i++;
		}
		if (r) {
			kf_buf_free(&b);
			return NULL;
		}
	}
	return kf_buf_detach(&b);
}

void kf_freezero(void *p, size_t len)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

void kf_freezero_str(char *s)
{
	if (s)
		kf_freezero(s, strlen(s));
}
