/* A bounded YAML document tree on libyaml's event API, and its emitter. */
#include "k3sforge/yaml.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_BYTES (4u * 1024 * 1024)
#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 200000

struct kf_ynode *kf_yscalar_new(const char *value)
{
	struct kf_ynode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = KF_Y_SCALAR;
	n->value = strdup(value ? value : "");
	if (!n->value) {
		free(n);
		return NULL;
	}
	return n;
}

struct kf_ynode *kf_yseq_new(void)
{
	struct kf_ynode *n = calloc(1, sizeof(*n));

	if (n)
		n->type = KF_Y_SEQ;
	return n;
}

struct kf_ynode *kf_ymap_new(void)
{
	struct kf_ynode *n = calloc(1, sizeof(*n));

	if (n)
		n->type = KF_Y_MAP;
	return n;
}

void kf_ynode_free(struct kf_ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		if (n->keys)
			kf_ynode_free(n->keys[i]);
		kf_ynode_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->value);
	free(n->tag);
	free(n);
}

static int grow(struct kf_ynode *n)
{
	size_t cap;
	struct kf_ynode **items, **keys = NULL;

	if (n->n < n->cap)
		return 0;
	cap = n->cap ? n->cap * 2 : 4;
	items = realloc(n->items, cap * sizeof(*items));
	if (!items)
		return KF_ENOMEM;
	n->items = items;
	if (n->type == KF_Y_MAP) {
		keys = realloc(n->keys, cap * sizeof(*keys));
		if (!keys)
			return KF_ENOMEM;
		n->keys = keys;
	}
	n->cap = cap;
	return 0;
}

int kf_yseq_append(struct kf_ynode *seq, struct kf_ynode *item)
{
	if (!seq || seq->type != KF_Y_SEQ || !item || grow(seq) != 0) {
		kf_ynode_free(item);
		return KF_ENOMEM;
	}
	seq->items[seq->n++] = item;
	return 0;
}

void kf_yseq_remove(struct kf_ynode *seq, size_t i)
{
	if (!seq || seq->type != KF_Y_SEQ || i >= seq->n)
		return;
	kf_ynode_free(seq->items[i]);
	memmove(&seq->items[i], &seq->items[i + 1], (seq->n - i - 1) * sizeof(seq->items[0]));
	seq->n--;
}

static int map_add(struct kf_ynode *map, struct kf_ynode *key, struct kf_ynode *val)
{
	if (grow(map) != 0) {
		kf_ynode_free(key);
		kf_ynode_free(val);
		return KF_ENOMEM;
	}
	map->keys[map->n] = key;
	map->items[map->n++] = val;
	return 0;
}

struct kf_ynode *kf_ymap_get(const struct kf_ynode *map, const char *key)
{
	if (!map || map->type != KF_Y_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (map->keys[i]->type == KF_Y_SCALAR && strcmp(map->keys[i]->value, key) == 0)
			return map->items[i];
	return NULL;
}

const char *kf_ymap_str(const struct kf_ynode *map, const char *key)
{
	struct kf_ynode *v = kf_ymap_get(map, key);

	return v && v->type == KF_Y_SCALAR ? v->value : NULL;
}

int kf_ymap_set(struct kf_ynode *map, const char *key, struct kf_ynode *val)
{
	if (!map || map->type != KF_Y_MAP || !val) {
		kf_ynode_free(val);
		return KF_ENOMEM;
	}
	for (size_t i = 0; i < map->n; i++) {
		if (map->keys[i]->type == KF_Y_SCALAR && strcmp(map->keys[i]->value, key) == 0) {
			kf_ynode_free(map->items[i]);
			map->items[i] = val;
			return 0;
		}
	}
	return map_add(map, kf_yscalar_new(key), val);
}

int kf_ymap_set_str(struct kf_ynode *map, const char *key, const char *value)
{
	return kf_ymap_set(map, key, kf_yscalar_new(value));
}

struct kf_ynode *kf_ynode_clone(const struct kf_ynode *n)
{
	struct kf_ynode *c;

	if (!n)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->type = n->type;
	c->quoted = n->quoted;
	c->line = n->line;
	c->col = n->col;
	if (n->value && !(c->value = strdup(n->value)))
		goto fail;
	if (n->tag && !(c->tag = strdup(n->tag)))
		goto fail;
	for (size_t i = 0; i < n->n; i++) {
		struct kf_ynode *v = kf_ynode_clone(n->items[i]);
		if (n->type == KF_Y_MAP) {
			if (map_add(c, kf_ynode_clone(n->keys[i]), v) != 0)
				goto fail;
		} else if (kf_yseq_append(c, v) != 0) {
			goto fail;
		}
	}
	return c;
fail:
	kf_ynode_free(c);
	return NULL;
}

bool kf_ynode_equal(const struct kf_ynode *a, const struct kf_ynode *b)
{
	if (!a || !b)
		return a == b;
	if (a->type != b->type || a->n != b->n)
		return false;
	if (a->type == KF_Y_SCALAR)
		return strcmp(a->value, b->value) == 0;
	for (size_t i = 0; i < a->n; i++) {
		if (a->type == KF_Y_MAP && !kf_ynode_equal(a->keys[i], b->keys[i]))
			return false;
		if (!kf_ynode_equal(a->items[i], b->items[i]))
			return false;
	}
	return true;
}

/* ---- parsing ---- */

struct parser {
	yaml_parser_t p;
	const char *name;
	struct kf_err *err;
	size_t nodes;
};

static int perr(struct parser *ps, const yaml_mark_t *m, const char *what)
{
	return kf_err_set(ps->err, KF_EPARSE, "%s:%zu:%zu: %s", ps->name, m->line + 1, m->column + 1,
			  what);
}

static int next_event(struct parser *ps, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&ps->p, ev)) {
		return kf_err_set(ps->err, KF_EPARSE, "%s:%zu:%zu: %s%s%s", ps->name,
				  ps->p.problem_mark.line + 1, ps->p.problem_mark.column + 1,
				  ps->p.problem ? ps->p.problem : "YAML syntax error",
				  ps->p.context ? " " : "", ps->p.context ? ps->p.context : "");
	}
	return 0;
}

static int parse_node(struct parser *ps, yaml_event_t *ev, int depth, struct kf_ynode **out);

static int parse_children(struct parser *ps, struct kf_ynode *n, yaml_event_type_t end, int depth)
{
	for (;;) {
		yaml_event_t ev;
		struct kf_ynode *key = NULL, *val = NULL;
		int r;
		if ((r = next_event(ps, &ev)) != 0)
			return r;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		r = parse_node(ps, &ev, depth + 1, n->type == KF_Y_MAP ? &key : &val);
		yaml_event_delete(&ev);
		if (r)
			return r;
		if (n->type == KF_Y_SEQ) {
			if ((r = kf_yseq_append(n, val)) != 0)
				return kf_err_set(ps->err, r, "out of memory");
			continue;
		}
		if (key->type != KF_Y_SCALAR) {
			int line = key->line, col = key->col;
			kf_ynode_free(key);
			return kf_err_set(ps->err, KF_EPARSE, "%s:%d:%d: only plain keys are supported",
					  ps->name, line, col);
		}
		if (kf_ymap_get(n, key->value)) {
			r = kf_err_set(ps->err, KF_EPARSE, "%s:%d:%d: duplicate key '%s'", ps->name,
				       key->line, key->col, key->value);
			kf_ynode_free(key);
			return r;
		}
		if ((r = next_event(ps, &ev)) != 0) {
			kf_ynode_free(key);
			return r;
		}
		r = parse_node(ps, &ev, depth + 1, &val);
		yaml_event_delete(&ev);
		if (r) {
			kf_ynode_free(key);
			return r;
		}
		if ((r = map_add(n, key, val)) != 0)
			return kf_err_set(ps->err, r, "out of memory");
	}
}

static int parse_node(struct parser *ps, yaml_event_t *ev, int depth, struct kf_ynode **out)
{
	struct kf_ynode *n = NULL;
	int r = 0;

	*out = NULL;
	if (depth > YAML_MAX_DEPTH)
		return perr(ps, &ev->start_mark, "nesting is too deep");
	if (++ps->nodes > YAML_MAX_NODES)
		return perr(ps, &ev->start_mark, "too many YAML nodes");
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return perr(ps, &ev->start_mark, "YAML aliases are not supported here");
	case YAML_SCALAR_EVENT:
		n = kf_yscalar_new((const char *)ev->data.scalar.value);
		if (!n)
			return kf_err_set(ps->err, KF_ENOMEM, "out of memory");
		n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		if (ev->data.scalar.tag)
			n->tag = strdup((const char *)ev->data.scalar.tag);
		break;
	case YAML_SEQUENCE_START_EVENT:
		n = kf_yseq_new();
		if (!n)
			return kf_err_set(ps->err, KF_ENOMEM, "out of memory");
		n->line = (int)ev->start_mark.line + 1;
		n->col = (int)ev->start_mark.column + 1;
		r = parse_children(ps, n, YAML_SEQUENCE_END_EVENT, depth);
		break;
	case YAML_MAPPING_START_EVENT:
		n = kf_ymap_new();
		if (!n)
			return kf_err_set(ps->err, KF_ENOMEM, "out of memory");
		n->line = (int)ev->start_mark.line + 1;
		n->col = (int)ev->start_mark.column + 1;
		r = parse_children(ps, n, YAML_MAPPING_END_EVENT, depth);
		break;
	default:
		return perr(ps, &ev->start_mark, "unexpected YAML structure");
	}
	if (r) {
		kf_ynode_free(n);
		return r;
	}
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	*out = n;
	return 0;
}

int kf_yaml_parse(struct kf_ynode **out, const char *name, const char *data, size_t len,
		  struct kf_err *err)
{
	struct parser ps;
	yaml_event_t ev;
	struct kf_ynode *root = NULL;
	int r = 0;
	bool in_doc = false;

	*out = NULL;
	if (len > YAML_MAX_BYTES)
		return kf_err_set(err, KF_ELIMIT, "%s: larger than %u bytes", name, YAML_MAX_BYTES);
	memset(&ps, 0, sizeof(ps));
	ps.name = name;
	ps.err = err;
	if (!yaml_parser_initialize(&ps.p))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&ps.p, (const unsigned char *)data, len);
	for (;;) {
		if ((r = next_event(&ps, &ev)) != 0)
			break;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			if (root) {
				r = perr(&ps, &ev.start_mark, "only one YAML document is supported");
				yaml_event_delete(&ev);
				break;
			}
			in_doc = true;
		} else if (ev.type == YAML_DOCUMENT_END_EVENT) {
			in_doc = false;
		} else if (in_doc && ev.type != YAML_STREAM_START_EVENT) {
			r = parse_node(&ps, &ev, 0, &root);
			if (r) {
				yaml_event_delete(&ev);
				break;
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ps.p);
	if (r) {
		kf_ynode_free(root);
		return r;
	}
	if (!root || (root->type == KF_Y_SCALAR && root->value[0] == '\0' && !root->quoted)) {
		kf_ynode_free(root);
		root = kf_ymap_new();
		if (!root)
			return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	*out = root;
	return 0;
}

/* ---- emitting ---- */

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return kf_buf_append(data, buffer, size) == 0;
}

/* Plain scalars that would read back as something else (numbers, booleans, null, empty, or
 * text with YAML indicators) are quoted by libyaml itself when we ask for "any" style; we only
 * force quotes where the source had them. */
static int emit_node(yaml_emitter_t *em, const struct kf_ynode *n)
{
	yaml_event_t ev;

	switch (n->type) {
	case KF_Y_SCALAR: {
		yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)n->tag,
					     (yaml_char_t *)n->value, (int)strlen(n->value),
					     !n->quoted && !n->tag, !n->tag,
					     n->quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
						       : YAML_ANY_SCALAR_STYLE);
		return yaml_emitter_emit(em, &ev) ? 0 : KF_EFAIL;
	}
	case KF_Y_SEQ:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return KF_EFAIL;
		for (size_t i = 0; i < n->n; i++)
			if (emit_node(em, n->items[i]) != 0)
				return KF_EFAIL;
		yaml_sequence_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev) ? 0 : KF_EFAIL;
	case KF_Y_MAP:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return KF_EFAIL;
		for (size_t i = 0; i < n->n; i++)
			if (emit_node(em, n->keys[i]) != 0 || emit_node(em, n->items[i]) != 0)
				return KF_EFAIL;
		yaml_mapping_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev) ? 0 : KF_EFAIL;
	}
	return KF_EFAIL;
}

int kf_yaml_emit(const struct kf_ynode *root, struct kf_buf *out, struct kf_err *err)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	int ok;

	if (!yaml_emitter_initialize(&em))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	yaml_emitter_set_output(&em, write_handler, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = yaml_emitter_emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	ok = ok && emit_node(&em, root) == 0;
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&em, &ev);
	if (!ok) {
		kf_err_set(err, KF_EFAIL, "cannot write YAML: %s",
			   em.problem ? em.problem : "emitter error");
		yaml_emitter_delete(&em);
		return KF_EFAIL;
	}
	yaml_emitter_delete(&em);
	return 0;
}
