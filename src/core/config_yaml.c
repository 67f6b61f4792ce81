/* k3sforge.yaml, first pass: libyaml's event parser (not its document loader, which expands
 * aliases without bound) feeding a small tree that keeps every value's position. Hostile input
 * is refused here: aliases, nesting depth, scalar length, total node count, huge mappings,
 * several documents. Also the problem list every later check reports into. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "config_internal.h"

#include "k3sforge/buf.h"

#define KF_CFG_MAX_MAP_KEYS 100

void cfg_problem_add(struct cfg_problems *p, int file_order, const char *file, int line, int col,
		     const char *fmt, ...)
{
	char msg[KF_ERR_MSG_MAX - 64];
	char *full;
	va_list ap;
	int n;

	if (p->n >= KF_CFG_MAX_PROBLEMS) {
		p->dropped++;
		return;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct cfg_problem *v = realloc(p->v, cap * sizeof(*v));
		if (!v) {
			p->oom = true;
			return;
		}
		p->v = v;
		p->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line < 1)
		line = 1;
	if (col < 1)
		col = 1;
	n = snprintf(NULL, 0, "%s:%d:%d: %s", file, line, col, msg);
	full = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!full) {
		p->oom = true;
		return;
	}
	snprintf(full, (size_t)n + 1, "%s:%d:%d: %s", file, line, col, msg);
	p->v[p->n].msg = full;
	p->v[p->n].file_order = file_order;
	p->v[p->n].line = line;
	p->v[p->n].col = col;
	p->n++;
}

static int problem_cmp(const void *a, const void *b)
{
	const struct cfg_problem *x = a, *y = b;

	if (x->file_order != y->file_order)
		return x->file_order - y->file_order;
	if (x->line != y->line)
		return x->line - y->line;
	return x->col - y->col;
}

void cfg_problems_sort(struct cfg_problems *p)
{
	/* Insertion sort keeps equal positions in the order found (qsort would not); there are
	 * at most KF_CFG_MAX_PROBLEMS. */
	for (size_t i = 1; i < p->n; i++) {
		struct cfg_problem t = p->v[i];
		size_t j = i;
		while (j > 0 && problem_cmp(&p->v[j - 1], &t) > 0) {
			p->v[j] = p->v[j - 1];
			j--;
		}
		p->v[j] = t;
	}
}

void cfg_problems_free(struct cfg_problems *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].msg);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

void cfg_ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		cfg_ynode_free(n->items[i]);
	free(n->items);
	/* Any scalar may be a secret (admin_password). */
	kf_freezero(n->str, n->len);
	free(n);
}

bool cfg_ynode_is_null(const struct ynode *n)
{
	return n && n->kind == YN_SCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
		strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0);
}

struct yparse {
	const char *name;
	const char *data;
	size_t len;
	struct cfg_problems *p;
	struct ynode *root;
	struct ynode *stack[KF_CFG_MAX_DEPTH + 1];
	int depth;
	size_t count;
	bool fatal;
};

static void pos_of_offset(const char *data, size_t len, size_t off, int *line, int *col)
{
	int l = 1, c = 1;

	for (size_t i = 0; i < off && i < len; i++) {
		if (data[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static void fatal(struct yparse *y, int line, int col, const char *msg)
{
	cfg_problem_add(y->p, 0, y->name, line, col, "%s", msg);
	y->fatal = true;
}

static void syntax_error(struct yparse *y, const yaml_parser_t *ps)
{
	int line, col;
	const char *problem = ps->problem ? ps->problem : "malformed YAML";

	if (ps->error == YAML_READER_ERROR) {
		pos_of_offset(y->data, y->len, ps->problem_offset, &line, &col);
		cfg_problem_add(y->p, 0, y->name, line, col,
				"not valid UTF-8 text (%s); save the file as UTF-8", problem);
	} else if (ps->error == YAML_MEMORY_ERROR) {
		cfg_problem_add(y->p, 0, y->name, 1, 1, "out of memory while parsing");
	} else {
		/* The most common cause by far gets a hint. */
		const char *hint = ps->problem_mark.index < y->len &&
					   y->data[ps->problem_mark.index] == '\t'
				   ? "; indent with spaces, not tabs"
				   : "";
		line = (int)ps->problem_mark.line + 1;
		col = (int)ps->problem_mark.column + 1;
		if (ps->context)
			cfg_problem_add(y->p, 0, y->name, line, col,
					"YAML syntax error: %s (%s that starts at line %d)%s", problem,
					ps->context, (int)ps->context_mark.line + 1, hint);
		else
			cfg_problem_add(y->p, 0, y->name, line, col, "YAML syntax error: %s%s",
					problem, hint);
	}
	y->fatal = true;
}

static struct ynode *new_node(struct yparse *y, enum ynode_kind kind, const yaml_mark_t *m)
{
	struct ynode *n;

	if (++y->count > KF_CFG_MAX_YNODES) {
		fatal(y, (int)m->line + 1, (int)m->column + 1,
		      "more than 50000 values in one file; this is not a k3sforge configuration");
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		fatal(y, (int)m->line + 1, (int)m->column + 1, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

/* Hangs n under the innermost open collection (or makes it the root). Takes ownership. */
static void attach(struct yparse *y, struct ynode *n)
{
	struct ynode *top;

	if (y->depth == 0) {
		if (y->root)
			cfg_ynode_free(y->root);
		y->root = n;
		return;
	}
	top = y->stack[y->depth - 1];
	if (top->kind == YN_MAP && top->n % 2 == 0) {
		/* n is a key. */
		if (n->kind != YN_SCALAR) {
			fatal(y, n->line, n->col,
			      "a mapping key must be a plain name, not a list or mapping");
			cfg_ynode_free(n);
			return;
		}
		if (top->n / 2 >= KF_CFG_MAX_MAP_KEYS) {
			fatal(y, n->line, n->col,
			      "a mapping with more than 100 keys; this is not a k3sforge configuration");
			cfg_ynode_free(n);
			return;
		}
		for (size_t i = 0; i < top->n; i += 2) {
			if (strcmp(top->items[i]->str, n->str) == 0) {
				cfg_problem_add(y->p, 0, y->name, n->line, n->col,
						"duplicate key '%s' (first at line %d); keep one",
						n->str, top->items[i]->line);
				break;
			}
		}
	}
	if (top->n == top->cap) {
		size_t cap = top->cap ? top->cap * 2 : 8;
		struct ynode **v = realloc(top->items, cap * sizeof(*v));
		if (!v) {
			fatal(y, n->line, n->col, "out of memory");
			cfg_ynode_free(n);
			return;
		}
		top->items = v;
		top->cap = cap;
	}
	top->items[top->n++] = n;
}

static void on_event(struct yparse *y, const yaml_event_t *ev, int *docs)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct ynode *n;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			fatal(y, (int)m->line + 1, (int)m->column + 1,
			      "a second YAML document ('---'); a configuration is one document");
		break;
	case YAML_ALIAS_EVENT:
		cfg_problem_add(y->p, 0, y->name, (int)m->line + 1, (int)m->column + 1,
				"aliases (*%.40s) are not supported; write the value out in full",
				(const char *)ev->data.alias.anchor);
		y->fatal = true;
		break;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.length > KF_CFG_MAX_SCALAR) {
			fatal(y, (int)m->line + 1, (int)m->column + 1,
			      "a value longer than 65536 bytes; no setting needs that much");
			break;
		}
		if (!(n = new_node(y, YN_SCALAR, m)))
			break;
		n->str = malloc(ev->data.scalar.length + 1);
		if (!n->str) {
			free(n);
			fatal(y, (int)m->line + 1, (int)m->column + 1, "out of memory");
			break;
		}
		memcpy(n->str, ev->data.scalar.value, ev->data.scalar.length);
		n->str[ev->data.scalar.length] = '\0';
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (memchr(n->str, '\0', n->len))
			cfg_problem_add(y->p, 0, y->name, n->line, n->col,
					"a value contains a NUL character");
		attach(y, n);
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (y->depth >= KF_CFG_MAX_DEPTH) {
			fatal(y, (int)m->line + 1, (int)m->column + 1,
			      "nesting deeper than 32 levels; this is not a k3sforge configuration");
			break;
		}
		n = new_node(y, ev->type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ, m);
		if (!n)
			break;
		attach(y, n);
		if (y->fatal)
			break;
		y->stack[y->depth++] = n;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (y->depth > 0)
			y->depth--;
		break;
	default:
		break;
	}
}

struct ynode *cfg_yaml_parse(const char *name, const char *data, size_t len,
			     struct cfg_problems *p)
{
	struct yparse y;
	yaml_parser_t ps;
	yaml_event_t ev;
	int docs = 0;
	bool done = false;

	memset(&y, 0, sizeof(y));
	y.name = name;
	y.data = data;
	y.len = len;
	y.p = p;
	if (!yaml_parser_initialize(&ps)) {
		cfg_problem_add(p, 0, name, 1, 1, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&ps, (const unsigned char *)data, len);
	while (!done && !y.fatal) {
		if (!yaml_parser_parse(&ps, &ev)) {
			syntax_error(&y, &ps);
			break;
		}
		on_event(&y, &ev, &docs);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ps);
	if (y.fatal) {
		cfg_ynode_free(y.root);
		return NULL;
	}
	return y.root;
}
