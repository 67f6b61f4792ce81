/* The installer's GRUB edit: a default autoinstall entry, rendered from
 * templates/grub-autoinstall.cfg with the kernel, arguments and initrd of the ISO's own first
 * menuentry, goes before that entry; the file's own `set timeout`/`set default` lines go. */
#include "k3sforge/iso.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/template.h"

#define GRUB_MAX ((size_t)1024 * 1024)

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static bool starts_word(const char *s, const char *word)
{
	size_t n = strlen(word);

	return strncmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\t' || s[n] == '\n' || !s[n]);
}

/* Copies one whitespace-separated word from *p into w; advances *p. */
static size_t take_word(const char **p, const char *end, char *w, size_t wmax)
{
	size_t n = 0;
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (s < end && *s != ' ' && *s != '\t') {
		if (n + 1 < wmax)
			w[n++] = *s;
		s++;
	}
	w[n] = '\0';
	*p = s;
	return n;
}

/* Fills data from the first menuentry: linux_cmd, kernel, args, after, initrd_cmd, initrd. */
static int first_entry(json_t *data, const char *cfg, const char **entry_at, const char *name,
		       struct kf_err *err)
{
	const char *line = cfg, *in_entry = NULL;
	bool have_linux = false, have_initrd = false;

	*entry_at = NULL;
	while (line && *line) {
		const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line);
		const char *t = skip_ws(line);
		if (!in_entry && starts_word(t, "menuentry")) {
			in_entry = line;
		} else if (in_entry && *t == '}') {
			break;
		} else if (in_entry && !have_linux && (starts_word(t, "linux") || starts_word(t, "linuxefi"))) {
			char w[1024], cmd[32], kernel[512];
			struct kf_buf args = KF_BUF_INIT, after = KF_BUF_INIT;
			const char *p = t;
			bool past = false;
			take_word(&p, end, cmd, sizeof(cmd));
			take_word(&p, end, kernel, sizeof(kernel));
			while (take_word(&p, end, w, sizeof(w))) {
				struct kf_buf *b = past ? &after : &args;
				if (!past && strcmp(w, "---") == 0) {
					past = true;
					continue;
				}
				if (b->len)
					kf_buf_putc(b, ' ');
				kf_buf_puts(b, w);
			}
			json_object_set_new(data, "linux_cmd", json_string(cmd));
			json_object_set_new(data, "kernel", json_string(kernel));
			json_object_set_new(data, "args", json_string(kf_buf_str(&args)));
			json_object_set_new(data, "after", json_string(kf_buf_str(&after)));
			kf_buf_free(&args);
			kf_buf_free(&after);
			have_linux = *kernel != '\0';
		} else if (in_entry && !have_initrd && (starts_word(t, "initrd") || starts_word(t, "initrdefi"))) {
			char cmd[32];
			const char *p = t;
			take_word(&p, end, cmd, sizeof(cmd));
			p = skip_ws(p);
			json_object_set_new(data, "initrd_cmd", json_string(cmd));
			json_object_set_new(data, "initrd", json_stringn(p, (size_t)(end - p)));
			have_initrd = p < end;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!in_entry)
		return kf_err_set(err, KF_EPARSE, "%s has no menuentry: not an Ubuntu live-server GRUB "
				  "configuration", name);
	if (!have_linux || !have_initrd)
		return kf_err_set(err, KF_EPARSE, "%s: the first menuentry has no linux/initrd line",
				  name);
	*entry_at = in_entry;
	return 0;
}

static bool is_set_line(const char *line, const char *var)
{
	const char *t = skip_ws(line);
	size_t n = strlen(var);

	if (!starts_word(t, "set"))
		return false;
	t = skip_ws(t + 3);
	return strncmp(t, var, n) == 0 && t[n] == '=';
}

int kf_iso_grub_edit(char **out, const char *cfg, const char *name, const char *tpl_dir,
		     struct kf_err *err)
{
	json_t *data = json_object();
	struct kf_buf b;
	char *entry = NULL;
	const char *entry_at, *line;
	int r;

	*out = NULL;
	kf_buf_init(&b, GRUB_MAX);
	if (!data)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (strlen(cfg) > GRUB_MAX) {
		r = kf_err_set(err, KF_ELIMIT, "%s is larger than %zu bytes", name, GRUB_MAX);
		goto out;
	}
	if ((r = first_entry(data, cfg, &entry_at, name, err)) != 0)
		goto out;
	if ((r = kf_tpl_render_file(&entry, tpl_dir ? tpl_dir : kf_render_template_dir(),
				    "grub-autoinstall.cfg", data, err)) != 0)
		goto out;
	for (line = cfg; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		if (line == entry_at) {
			r = kf_buf_puts(&b, entry);
			if (!r && b.len && b.data[b.len - 1] != '\n')
				r = kf_buf_putc(&b, '\n');
		}
		if (!r && !is_set_line(line, "timeout") && !is_set_line(line, "default"))
			r = kf_buf_append(&b, line, len);
		if (r) {
			r = kf_err_set(err, KF_ELIMIT, "%s: edited file too large", name);
			goto out;
		}
		line = nl ? nl + 1 : NULL;
	}
	*out = kf_buf_detach(&b);
	if (!*out)
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	free(entry);
	kf_buf_free(&b);
	json_decref(data);
	return r;
}
