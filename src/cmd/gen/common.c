/* What every generator asks of the command table (gen.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

enum value_kind kf_gen_value_kind(const struct kf_opt *o)
{
	if (o->type == KF_OPT_FLAG)
		return V_NONE;
	if (o->long_name && strcmp(o->long_name, "node") == 0)
		return V_NODE;
	if (!o->argname)
		return V_TEXT;
	if (strcmp(o->argname, "FILE") == 0 || strcmp(o->argname, "F") == 0)
		return V_FILE;
	if (strcmp(o->argname, "DIR") == 0)
		return V_DIR;
	if (strcmp(o->argname, "STAGE") == 0)
		return V_STAGE;
	return V_TEXT;
}

bool kf_gen_is_help_opt(const struct kf_opt *o)
{
	return o->long_name && strcmp(o->long_name, "help") == 0;
}

/* Does the command have an option of this long or short name (it wins over a global one)? */
bool kf_gen_cmd_has(const struct kf_cmd *c, const struct kf_opt *g)
{
	for (const struct kf_opt *o = c ? c->opts : NULL; o && o->type != KF_OPT_END; o++)
		if ((g->long_name && o->long_name && strcmp(g->long_name, o->long_name) == 0) ||
		    (g->short_name && o->short_name == g->short_name))
			return true;
	return false;
}

/* The global options that apply after command c (all of them but --help/--version and those
 * the command has itself); c NULL: before any command (all but --help/--version, which the
 * caller adds). */
bool kf_gen_global_applies(const struct kf_cmd *c, const struct kf_opt *g)
{
	if (kf_gen_is_help_opt(g) || (g->long_name && strcmp(g->long_name, "version") == 0))
		return c == NULL;
	return !kf_gen_cmd_has(c, g);
}

/* Subcommands named in the usage line: every "<name> a|b|c" (lowercase words) after the
 * command's own name, e.g. "registry start|stop|status | registry ls" -> start stop status ls.
 * Fills words (pointers into storage) and returns their count. */
int kf_gen_subcommands(const struct kf_cmd *c, char *storage, size_t cap, const char **words)
{
	size_t nl = strlen(c->name), used = 0;
	const char *u = c->usage ? c->usage : "";
	int n = 0;

	for (const char *p = strstr(u, c->name); p; p = strstr(p + 1, c->name)) {
		const char *t = p + nl, *e;
		if ((p != u && p[-1] != ' ') || *t != ' ')
			continue;
		t++;
		for (e = t; *e && *e != ' '; e++)
			if (!islower((unsigned char)*e) && *e != '|' && *e != '-')
				break;
		if (e == t || (*e && *e != ' ') || !islower((unsigned char)*t))
			continue;
		while (t < e && n < MAX_WORDS) {
			const char *bar = memchr(t, '|', (size_t)(e - t));
			size_t len = (size_t)((bar ? bar : e) - t);
			bool dup = false;
			if (len && used + len + 1 <= cap) {
				memcpy(storage + used, t, len);
				storage[used + len] = '\0';
				for (int i = 0; i < n; i++)
					dup = dup || strcmp(words[i], storage + used) == 0;
				if (!dup) {
					words[n++] = storage + used;
					used += len + 1;
				}
			}
			t += len + (bar ? 1 : 0);
		}
	}
	return n;
}

/* Does the usage line name a positional argument (an upper-case word not the value of an
 * option), such as backup FILE, snapshot create [NAME], mirror [IMAGE...]? */
bool kf_gen_takes_positional(const struct kf_cmd *c)
{
	const char *u = c->usage ? c->usage : "";
	char prev[64] = "", tok[64];
	int len;

	while (sscanf(u, " %63s%n", tok, &len) == 1) {
		const char *t = tok;
		u += len;
		while (*t == '[' || *t == '(')
			t++;
		if (isupper((unsigned char)*t)) {
			const char *p = prev;
			while (*p == '[' || *p == '(')
				p++;
			if (*p != '-')
				return true;
		}
		snprintf(prev, sizeof(prev), "%s", tok);
	}
	return false;
}

bool kf_gen_visible(const struct kf_cmd *c)
{
	return !c->hidden;
}

/* The stage names of `up`, space-separated. */
void kf_gen_stage_words(struct kf_buf *b)
{
	for (int i = 0; kf_lab_stages[i]; i++)
		kf_buf_printf(b, "%s%s", i ? " " : "", kf_lab_stages[i]->name);
}

/* A single-quoted POSIX shell word (bash, zsh). */
void kf_gen_sh_quoted(struct kf_buf *b, const char *s)
{
	kf_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			kf_buf_puts(b, "'\\''");
		else
			kf_buf_putc(b, *s);
	}
	kf_buf_putc(b, '\'');
}

/* A description on one line without the characters zsh's _arguments and fish treat specially. */
void kf_gen_plain_desc(struct kf_buf *b, const char *s)
{
	for (; s && *s; s++) {
		char c = *s;
		if (c == '[' || c == '(' || c == '{')
			c = '(';
		else if (c == ']' || c == ')' || c == '}')
			c = ')';
		else if (c == ':' || c == '\n' || c == '\t')
			c = ' ';
		else if (c == '\'' || c == '"' || c == '`' || c == '\\' || c == '$')
			continue;
		kf_buf_putc(b, c);
	}
}

/* ---- bash ---- */
