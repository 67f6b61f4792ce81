/* The template engine of templates/: variables, if/unless/each blocks, and three filters
 * (indent, yaml, sh), each safe for any value: nothing a value holds can start a new line,
 * end a quoted or block scalar, or end a shell word. A template is tokenized once into a flat list with matched block ends,
 * then rendered recursively over index ranges against a stack of JSON scopes. */
#include "k3sforge/template.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"

#define MAX_FILTERS 4
#define MAX_EXPR 128

enum tok_kind { T_TEXT, T_VAR, T_IF, T_UNLESS, T_EACH, T_ELSE, T_END, T_COMMENT };

struct filter {
	char name[16];
	long arg;
};

struct tok {
	enum tok_kind kind;
	const char *text;   /* T_TEXT */
	size_t len;
	char expr[MAX_EXPR];
	struct filter filters[MAX_FILTERS];
	int n_filters;
	int line;
	size_t else_at;     /* blocks: index of the matching else (0 = none) */
	size_t end_at;      /* blocks: index of the matching end */
};

struct tpl {
	const char *name;
	struct tok *toks;
	size_t n, cap;
};

struct scope {
	json_t *val;
	long index;
};

struct render {
	const struct tpl *t;
	struct kf_buf out;
	struct scope stack[KF_TPL_MAX_DEPTH + 1];
	int depth;
	struct kf_err *err;
};

static int push_tok(struct tpl *t, struct tok *tk, struct kf_err *err)
{
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct tok *p = realloc(t->toks, ncap * sizeof(*p));
		if (!p)
			return kf_err_set(err, KF_ENOMEM, "out of memory parsing %s", t->name);
		t->toks = p;
		t->cap = ncap;
	}
	t->toks[t->n++] = *tk;
	return 0;
}

static int tag_error(const struct tpl *t, int line, struct kf_err *err, const char *what,
		     const char *detail)
{
	return kf_err_set(err, KF_EPARSE, "%s:%d: %s%s%s", t->name, line, what, detail ? ": " : "",
			  detail ? detail : "");
}

/* Copies one word of s (after skipping blanks) into w; returns the rest. */
static const char *next_word(const char *s, const char *end, char *w, size_t wmax)
{
	size_t n = 0;

	while (s < end && isspace((unsigned char)*s))
		s++;
	while (s < end && !isspace((unsigned char)*s) && *s != '|') {
		if (n + 1 < wmax)
			w[n++] = *s;
		s++;
	}
	w[n] = '\0';
	return s;
}

static bool valid_path(const char *p)
{
	if (strcmp(p, ".") == 0 || strcmp(p, "@index") == 0)
		return true;
	if (!*p || *p == '.')
		return false;
	for (const char *c = p; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
			return false;
	return p[strlen(p) - 1] != '.';
}

/* Parses the inside of {{ }} (without the braces) into tk. */
static int parse_tag(const struct tpl *t, const char *s, const char *end, struct tok *tk,
		     struct kf_err *err)
{
	char word[MAX_EXPR];
	const char *p = s;

	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p < end && *p == '!') {
		tk->kind = T_COMMENT;
		return 0;
	}
	if (p < end && (*p == '#' || *p == '/')) {
		char kw[16];
		bool open = *p == '#';
		p = next_word(p + 1, end, kw, sizeof(kw));
		if (!open) {
			tk->kind = T_END;
			snprintf(tk->expr, sizeof(tk->expr), "%s", kw);
		} else if (strcmp(kw, "if") == 0) {
			tk->kind = T_IF;
		} else if (strcmp(kw, "unless") == 0) {
			tk->kind = T_UNLESS;
		} else if (strcmp(kw, "each") == 0) {
			tk->kind = T_EACH;
		} else {
			return tag_error(t, tk->line, err, "unknown block", kw);
		}
		if (strcmp(kw, "if") && strcmp(kw, "unless") && strcmp(kw, "each"))
			return tag_error(t, tk->line, err, "unknown block", kw);
		if (open) {
			p = next_word(p, end, tk->expr, sizeof(tk->expr));
			if (!valid_path(tk->expr))
				return tag_error(t, tk->line, err, "bad variable name in block", tk->expr);
		}
		next_word(p, end, word, sizeof(word));
		if (*word)
			return tag_error(t, tk->line, err, "unexpected text in block tag", word);
		return 0;
	}
	p = next_word(p, end, tk->expr, sizeof(tk->expr));
	if (strcmp(tk->expr, "else") == 0) {
		tk->kind = T_ELSE;
		return 0;
	}
	tk->kind = T_VAR;
	if (!valid_path(tk->expr))
		return tag_error(t, tk->line, err, "bad variable name", tk->expr);
	for (;;) {
		struct filter *f;
		char arg[32];
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p >= end)
			break;
		if (*p != '|')
			return tag_error(t, tk->line, err, "expected '|' before a filter", NULL);
		if (tk->n_filters == MAX_FILTERS)
			return tag_error(t, tk->line, err, "too many filters", NULL);
		f = &tk->filters[tk->n_filters++];
		p = next_word(p + 1, end, f->name, sizeof(f->name));
		if (strcmp(f->name, "indent") == 0) {
			char *e;
			p = next_word(p, end, arg, sizeof(arg));
			f->arg = strtol(arg, &e, 10);
			if (!*arg || *e || f->arg < 0 || f->arg > 64)
				return tag_error(t, tk->line, err, "indent needs a width 0..64", arg);
		} else if (strcmp(f->name, "yaml") && strcmp(f->name, "sh")) {
			return tag_error(t, tk->line, err, "unknown filter (indent N, yaml, sh)",
					 f->name);
		}
	}
	return 0;
}

static bool is_standalone_kind(enum tok_kind k)
{
	return k != T_TEXT && k != T_VAR;
}

static int tokenize(struct tpl *t, const char *text, struct kf_err *err)
{
	const char *p = text, *start = text;
	int line = 1;
	size_t stack[KF_TPL_MAX_DEPTH];
	int sp = 0;
	int r;

	for (;;) {
		const char *open = strstr(p, "{{"), *close, *after;
		struct tok tk;
		const char *ls, *le;

		if (!open) {
			if (*p) {
				memset(&tk, 0, sizeof(tk));
				tk.kind = T_TEXT;
				tk.text = p;
				tk.len = strlen(p);
				tk.line = line;
				if ((r = push_tok(t, &tk, err)) != 0)
					return r;
			}
			break;
		}
		for (const char *c = p; c < open; c++)
			if (*c == '\n')
				line++;
		close = strstr(open + 2, "}}");
		if (!close)
			return tag_error(t, line, err, "'{{' without '}}'", NULL);
		memset(&tk, 0, sizeof(tk));
		tk.line = line;
		if ((r = parse_tag(t, open + 2, close, &tk, err)) != 0)
			return r;
		after = close + 2;
		/* text before the tag */
		if (open > p) {
			struct tok tx;
			memset(&tx, 0, sizeof(tx));
			tx.kind = T_TEXT;
			tx.text = p;
			tx.len = (size_t)(open - p);
			tx.line = line;
			if ((r = push_tok(t, &tx, err)) != 0)
				return r;
		}
		/* a standalone block tag takes its whole line with it */
		if (is_standalone_kind(tk.kind)) {
			ls = open;
			while (ls > start && (ls[-1] == ' ' || ls[-1] == '\t'))
				ls--;
			le = after;
			while (*le == ' ' || *le == '\t')
				le++;
			if ((ls == start || ls[-1] == '\n') && (*le == '\n' || *le == '\0')) {
				size_t ws = (size_t)(open - ls);
				if (ws && t->n && t->toks[t->n - 1].kind == T_TEXT)
					t->toks[t->n - 1].len -= ws;
				after = *le == '\n' ? le + 1 : le;
			}
		}
		for (const char *c = open; c < after; c++)
			if (*c == '\n')
				line++;
		switch (tk.kind) {
		case T_IF:
		case T_UNLESS:
		case T_EACH:
			if (sp == KF_TPL_MAX_DEPTH)
				return tag_error(t, tk.line, err, "blocks nested too deeply", NULL);
			stack[sp++] = t->n;
			break;
		case T_ELSE:
			if (!sp || t->toks[stack[sp - 1]].kind == T_EACH ||
			    t->toks[stack[sp - 1]].else_at)
				return tag_error(t, tk.line, err, "{{else}} outside an if/unless block",
						 NULL);
			t->toks[stack[sp - 1]].else_at = t->n;
			break;
		case T_END: {
			static const char *const names[] = { [T_IF] = "if", [T_UNLESS] = "unless",
							     [T_EACH] = "each" };
			struct tok *o;
			if (!sp)
				return tag_error(t, tk.line, err, "block end without a start", tk.expr);
			o = &t->toks[stack[sp - 1]];
			if (strcmp(names[o->kind], tk.expr) != 0) {
				char msg[MAX_EXPR + 64];
				snprintf(msg, sizeof(msg), "{{/%s}} closes {{#%s}} of line %d", tk.expr,
					 names[o->kind], o->line);
				return tag_error(t, tk.line, err, msg, NULL);
			}
			o->end_at = t->n;
			sp--;
			break;
		}
		default:
			break;
		}
		if ((r = push_tok(t, &tk, err)) != 0)
			return r;
		p = after;
	}
	if (sp)
		return tag_error(t, t->toks[stack[sp - 1]].line, err, "block is never closed",
				 t->toks[stack[sp - 1]].expr);
	return 0;
}

/* Resolves a dotted path against the scope stack; NULL when missing. */
static json_t *lookup(struct render *rd, const char *path, long *index_out)
{
	char first[MAX_EXPR];
	const char *dot;
	json_t *v = NULL;

	if (strcmp(path, ".") == 0)
		return rd->stack[rd->depth].val;
	if (strcmp(path, "@index") == 0) {
		*index_out = rd->stack[rd->depth].index;
		return NULL;
	}
	dot = strchr(path, '.');
	snprintf(first, sizeof(first), "%.*s", dot ? (int)(dot - path) : (int)strlen(path), path);
	for (int i = rd->depth; i >= 0 && !v; i--)
		if (json_is_object(rd->stack[i].val))
			v = json_object_get(rd->stack[i].val, first);
	while (v && dot) {
		const char *next = strchr(dot + 1, '.');
		char part[MAX_EXPR];
		snprintf(part, sizeof(part), "%.*s", next ? (int)(next - dot - 1) : (int)strlen(dot + 1),
			 dot + 1);
		v = json_is_object(v) ? json_object_get(v, part) : NULL;
		dot = next;
	}
	return v;
}

static bool truthy(const json_t *v)
{
	if (!v)
		return false;
	switch (json_typeof(v)) {
	case JSON_STRING: return json_string_length(v) > 0;
	case JSON_ARRAY: return json_array_size(v) > 0;
	case JSON_OBJECT: return json_object_size(v) > 0;
	case JSON_INTEGER: return json_integer_value(v) != 0;
	case JSON_REAL: return json_real_value(v) != 0;
	case JSON_TRUE: return true;
	default: return false;
	}
}

/* A problem with a value (not with the template), for the caller's message. */
struct value_problem {
	const char *what;
	uint32_t cp;
};

static int value_unsafe(struct value_problem *vp, const char *what, uint32_t cp)
{
	vp->what = what;
	vp->cp = cp;
	return KF_EPARSE;
}

/* `yaml`: a YAML double-quoted scalar in printable ASCII only. Every control character, DEL,
 * quote, backslash and every non-ASCII character is escaped (\uXXXX or \UXXXXXXXX: valid in
 * YAML 1.1 and 1.2), so no YAML 1.1 line break (U+0085, U+2028, U+2029) or other special
 * character ever reaches the file as is, and the text survives any later `indent` into a
 * block scalar. Invalid UTF-8 has no YAML form: refused. */
static int filter_yaml(struct kf_buf *dst, const char *s, struct value_problem *vp)
{
	size_t n = strlen(s), i = 0;
	int r = kf_buf_putc(dst, '"');

	while (!r && i < n) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		size_t k;
		if (c >= 0x20 && c < 0x7f) {
			if (c == '"' || c == '\\')
				r = kf_buf_putc(dst, '\\');
			if (!r)
				r = kf_buf_putc(dst, (char)c);
			i++;
			continue;
		}
		if ((k = kf_utf8_decode(s + i, n - i, &cp)) == 0)
			return value_unsafe(vp, "is not valid UTF-8", KF_UTF8_INVALID);
		r = cp <= 0xffff ? kf_buf_printf(dst, "\\u%04X", (unsigned)cp)
				 : kf_buf_printf(dst, "\\U%08X", (unsigned)cp);
		i += k;
	}
	return r ? r : kf_buf_putc(dst, '"');
}

/* `sh`: one bash word. Printable ASCII goes in single quotes ('\'' for a quote); every other
 * byte (controls, DEL, all of UTF-8) as $'\xHH', so the output is printable ASCII: nothing in
 * it can end a comment, a line or a YAML block scalar the script is later indented into, and
 * bash puts the very same bytes back. (The scripts under templates/scripts/ are bash.) */
static int filter_sh(struct kf_buf *dst, const char *s)
{
	int r = kf_buf_putc(dst, '\'');

	for (const unsigned char *c = (const unsigned char *)s; *c && !r; c++) {
		if (*c == '\'')
			r = kf_buf_puts(dst, "'\\''");
		else if (*c < 0x20 || *c >= 0x7f)
			r = kf_buf_printf(dst, "'$'\\x%02x''", *c);
		else
			r = kf_buf_putc(dst, (char)*c);
	}
	return r ? r : kf_buf_putc(dst, '\'');
}

/* `indent N`: text for a YAML block scalar (`key: |` with the first line already indented):
 * every line after the first gets N spaces. A block scalar can carry only printable text, tabs
 * and line breaks, and YAML 1.1 takes more than LF as a line break (CR, NEL, U+2028, U+2029):
 * an unindented one would end the scalar and turn the rest of the value into YAML keys. So
 * anything but LF, CRLF, tab and printable UTF-8 is refused, and so is a first line that starts
 * with a space (the scalar would take its indentation from it, and end at the next line). */
static int filter_indent(struct kf_buf *dst, const char *s, long width,
			 struct value_problem *vp)
{
	size_t n = strlen(s), bad, i = 0;
	uint32_t cp;
	int r = 0;

	if (n && s[n - 1] == '\n') {
		n--; /* the value's own final line break (LF or CRLF): the template has the next */
		if (n && s[n - 1] == '\r')
			n--;
	}
	if ((bad = kf_text_find_unsafe(s, n, KF_TEXT_TAB | KF_TEXT_LF | KF_TEXT_CRLF, &cp)) < n)
		return value_unsafe(vp,
				    cp == KF_UTF8_INVALID
					    ? "is not valid UTF-8"
					    : "holds a control or line-break character a YAML block "
					      "scalar cannot carry",
				    cp);
	while (i < n && (s[i] == '\n' || (s[i] == '\r' && s[i + 1] == '\n')))
		i++;
	if (i < n && s[i] == ' ')
		return value_unsafe(vp, "starts with a space: a YAML block scalar would take its "
					"indentation from it", ' ');
	for (i = 0; i < n && !r; i++) {
		r = kf_buf_putc(dst, s[i]);
		if (!r && s[i] == '\n' && i + 1 < n && s[i + 1] != '\n' &&
		    !(s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n'))
			for (long k = 0; k < width && !r; k++)
				r = kf_buf_putc(dst, ' ');
	}
	return r;
}

static int apply_filter(struct kf_buf *dst, const char *s, const struct filter *f,
			struct value_problem *vp)
{
	if (strcmp(f->name, "indent") == 0)
		return filter_indent(dst, s, f->arg, vp);
	if (strcmp(f->name, "yaml") == 0)
		return filter_yaml(dst, s, vp);
	return filter_sh(dst, s);
}

static int value_error(struct render *rd, const struct tok *tk, const char *filter,
		       const struct value_problem *vp)
{
	char ch[32] = "";

	/* never the value itself: it may be a password or a token */
	if (vp->cp != KF_UTF8_INVALID && vp->cp != ' ')
		snprintf(ch, sizeof(ch), " (U+%04X)", (unsigned)vp->cp);
	return kf_err_set(rd->err, KF_EPARSE, "%s:%d: the value of {{%s%s%s}} %s%s", rd->t->name,
			  tk->line, tk->expr, filter ? " | " : "", filter ? filter : "", vp->what,
			  ch);
}

static int emit_var(struct render *rd, const struct tok *tk)
{
	long index = -1;
	json_t *v = lookup(rd, tk->expr, &index);
	char num[32];
	const char *s;
	struct kf_buf cur = KF_BUF_INIT, next = KF_BUF_INIT;
	struct value_problem vp = { NULL, 0 };
	int r = 0, i;

	if (strcmp(tk->expr, "@index") == 0) {
		if (rd->depth == 0)
			return tag_error(rd->t, tk->line, rd->err, "{{@index}} outside {{#each}}", NULL);
		snprintf(num, sizeof(num), "%ld", index);
		s = num;
	} else if (!v) {
		return tag_error(rd->t, tk->line, rd->err, "no such variable", tk->expr);
	} else if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		s = num;
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%g", json_real_value(v));
		s = num;
	} else if (json_is_boolean(v)) {
		s = json_is_true(v) ? "true" : "false";
	} else {
		return tag_error(rd->t, tk->line, rd->err, "variable is a list or mapping, not text",
				 tk->expr);
	}
	if (!tk->n_filters) {
		/* As is, a value may hold no line break or control character of any kind: one
		 * would let it start new lines (YAML keys, shell commands, unit settings, GRUB
		 * commands) wherever a template puts it. Free text belongs in `yaml` or `sh`. */
		size_t n = strlen(s);
		if (kf_text_find_unsafe(s, n, 0, &vp.cp) < n) {
			vp.what = vp.cp == KF_UTF8_INVALID
					  ? "is not valid UTF-8"
					  : "holds a control or line-break character (use the yaml or "
					    "sh filter for free text)";
			return value_error(rd, tk, NULL, &vp);
		}
		return kf_buf_puts(&rd->out, s) ? kf_err_set(rd->err, KF_ELIMIT,
							     "%s: output exceeds %zu bytes",
							     rd->t->name, KF_TPL_MAX_OUTPUT)
						: 0;
	}
	kf_buf_init(&cur, KF_TPL_MAX_OUTPUT);
	kf_buf_init(&next, KF_TPL_MAX_OUTPUT);
	r = kf_buf_puts(&cur, s);
	for (i = 0; i < tk->n_filters && !r; i++) {
		kf_buf_reset(&next);
		r = apply_filter(&next, kf_buf_str(&cur), &tk->filters[i], &vp);
		if (!r) {
			struct kf_buf tmp = cur;
			cur = next;
			next = tmp;
		}
	}
	if (!r)
		r = kf_buf_append(&rd->out, kf_buf_str(&cur), cur.len);
	kf_buf_free_secret(&cur);
	kf_buf_free_secret(&next);
	if (r && vp.what)
		return value_error(rd, tk, tk->filters[i - 1].name, &vp);
	if (r)
		return kf_err_set(rd->err, r, "%s:%d: output exceeds %zu bytes", rd->t->name, tk->line,
				  KF_TPL_MAX_OUTPUT);
	return 0;
}

static int render_range(struct render *rd, size_t from, size_t to)
{
	int r;

	for (size_t i = from; i < to; i++) {
		const struct tok *tk = &rd->t->toks[i];
		switch (tk->kind) {
		case T_TEXT:
			if (kf_buf_append(&rd->out, tk->text, tk->len))
				return kf_err_set(rd->err, KF_ELIMIT, "%s: output exceeds %zu bytes",
						  rd->t->name, KF_TPL_MAX_OUTPUT);
			break;
		case T_VAR:
			if ((r = emit_var(rd, tk)) != 0)
				return r;
			break;
		case T_IF:
		case T_UNLESS: {
			long idx;
			bool yes = strcmp(tk->expr, "@index") == 0
					   ? rd->stack[rd->depth].index > 0
					   : truthy(lookup(rd, tk->expr, &idx));
			size_t mid = tk->else_at ? tk->else_at : tk->end_at;
			if (tk->kind == T_UNLESS)
				yes = !yes;
			if (yes)
				r = render_range(rd, i + 1, mid);
			else
				r = tk->else_at ? render_range(rd, tk->else_at + 1, tk->end_at) : 0;
			if (r)
				return r;
			i = tk->end_at;
			break;
		}
		case T_EACH: {
			long idx;
			json_t *list = lookup(rd, tk->expr, &idx);
			if (!list)
				return tag_error(rd->t, tk->line, rd->err, "no such list", tk->expr);
			if (!json_is_array(list))
				return tag_error(rd->t, tk->line, rd->err, "{{#each}} needs a list",
						 tk->expr);
			if (rd->depth >= KF_TPL_MAX_DEPTH)
				return tag_error(rd->t, tk->line, rd->err, "loops nested too deeply", NULL);
			for (size_t k = 0; k < json_array_size(list); k++) {
				rd->depth++;
				rd->stack[rd->depth].val = json_array_get(list, k);
				rd->stack[rd->depth].index = (long)k;
				r = render_range(rd, i + 1, tk->end_at);
				rd->depth--;
				if (r)
					return r;
			}
			i = tk->end_at;
			break;
		}
		default:
			break;
		}
	}
	return 0;
}

int kf_tpl_render(char **out, const char *name, const char *text, json_t *ctx,
		  struct kf_err *err)
{
	struct tpl t = { name ? name : "template", NULL, 0, 0 };
	struct render rd;
	int r;

	*out = NULL;
	if (strlen(text) > KF_TPL_MAX_SIZE)
		return kf_err_set(err, KF_ELIMIT, "%s: template larger than %zu bytes", t.name,
				  KF_TPL_MAX_SIZE);
	memset(&rd, 0, sizeof(rd));
	if ((r = tokenize(&t, text, err)) != 0)
		goto out;
	rd.t = &t;
	rd.err = err;
	rd.stack[0].val = ctx;
	rd.stack[0].index = -1;
	kf_buf_init(&rd.out, KF_TPL_MAX_OUTPUT);
	if ((r = render_range(&rd, 0, t.n)) != 0)
		goto out;
	*out = kf_buf_detach(&rd.out);
	if (!*out)
		r = kf_err_set(err, KF_ENOMEM, "out of memory rendering %s", t.name);
out:
	kf_buf_free_secret(&rd.out);
	free(t.toks);
	return r;
}
