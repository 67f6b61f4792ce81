/* The one quoting helper for command strings sent to a remote POSIX shell: each argument
 * becomes one word, whatever it contains. The seeds broke on PowerShell→ssh→bash quoting; here a
 * command is always an argv turned into words by this file. */
#include <stdlib.h>
#include <string.h>

#include "k3sforge/ssh.h"

static int is_plain(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%",
			    *s))
			return 0;
	return 1;
}

static int append_quoted(struct kf_buf *b, const char *arg)
{
	int r = 0;

	if (is_plain(arg))
		return kf_buf_puts(b, arg);
	r |= kf_buf_putc(b, '\'');
	for (const char *p = arg; *p; p++) {
		if (*p == '\'')
			r |= kf_buf_puts(b, "'\\''");
		else
			r |= kf_buf_putc(b, *p);
	}
	r |= kf_buf_putc(b, '\'');
	return r ? KF_ENOMEM : 0;
}

char *kf_shell_quote(const char *arg)
{
	struct kf_buf b;

	kf_buf_init(&b, 0);
	if (append_quoted(&b, arg ? arg : "") != 0) {
		kf_buf_free(&b);
		return NULL;
	}
	return kf_buf_detach(&b);
}

int kf_shell_join(struct kf_buf *out, const char *const *argv)
{
	int r;

	for (int i = 0; argv && argv[i]; i++) {
		if (i && (r = kf_buf_putc(out, ' ')) != 0)
			return r;
		if ((r = append_quoted(out, argv[i])) != 0)
			return r;
	}
	return 0;
}
