/* The declarative option parser shared by every command, and "did you mean" suggestions. */
#include "k3sforge/opt.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"

int kf_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int *row, r;

	if (la > 256 || lb > 256)
		return 1000;
	row = malloc((lb + 1) * sizeof(int));
	if (!row)
		return 1000;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int prev = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int cur = row[j];
			int cost = a[i - 1] == b[j - 1] ? 0 : 1;
			int best = prev + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	r = row[lb];
	free(row);
	return r;
}

const char *kf_closest(const char *word, const char *const *candidates, int n)
{
	const char *best = NULL;
	int best_d = 1000;
	int limit = (int)strlen(word) / 3;

	if (limit < 2)
		limit = 2;
	for (int i = 0; i < n; i++) {
		int d;
		if (!candidates[i])
			continue;
		d = kf_edit_distance(word, candidates[i]);
		/* A prefix of a candidate counts as close. */
		if (strlen(word) >= 3 && strncmp(candidates[i], word, strlen(word)) == 0)
			d = 1;
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best_d <= limit ? best : NULL;
}

static const struct kf_opt *find_long(const struct kf_opt *opts, const char *name, size_t len)
{
	for (const struct kf_opt *o = opts; o && o->type != KF_OPT_END; o++)
		if (o->long_name && strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
			return o;
	return NULL;
}

static const struct kf_opt *find_short(const struct kf_opt *opts, char c)
{
	for (const struct kf_opt *o = opts; o && o->type != KF_OPT_END; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

static int unknown_long(const struct kf_opt *opts, const char *name, size_t len, bool help_ok,
			struct kf_err *err)
{
	const char *cands[128];
	int n = 0;
	char word[128];
	const char *best;

	snprintf(word, sizeof(word), "%.*s", (int)len, name);
	for (const struct kf_opt *o = opts; o && o->type != KF_OPT_END && n < 126; o++)
		if (o->long_name)
			cands[n++] = o->long_name;
	if (help_ok)
		cands[n++] = "help";
	best = kf_closest(word, cands, n);
	if (best)
		return kf_err_set(err, KF_EUSAGE, "unknown option --%s (did you mean --%s?)", word,
				  best);
	return kf_err_set(err, KF_EUSAGE, "unknown option --%s (see --help)", word);
}

static int set_value(const struct kf_opt *o, const char *arg, const char *shown, struct kf_err *err)
{
	switch (o->type) {
	case KF_OPT_FLAG:
		*(bool *)o->value = true;
		return 0;
	case KF_OPT_STRING:
		*(const char **)o->value = arg;
		return 0;
	case KF_OPT_INT: {
		char *end;
		long v;
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || end == arg || *end)
			return kf_err_set(err, KF_EUSAGE, "option %s needs a whole number, not '%s'",
					  shown, arg);
		if (v < INT_MIN || v > INT_MAX)
			return kf_err_set(err, KF_EUSAGE, "option %s: %s is too large", shown, arg);
		if ((o->min || o->max) && (v < o->min || v > o->max))
			return kf_err_set(err, KF_EUSAGE, "option %s must be between %ld and %ld, not %ld",
					  shown, o->min, o->max, v);
		*(int *)o->value = (int)v;
		return 0;
	}
	case KF_OPT_LIST: {
		struct kf_strlist *l = o->value;
		const char **items = realloc(l->items, sizeof(char *) * (size_t)(l->n + 1));
		if (!items)
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		l->items = items;
		l->items[l->n++] = arg;
		return 0;
	}
	default:
		return kf_err_set(err, KF_EUSAGE, "bad option table");
	}
}

int kf_opt_parse(const struct kf_opt *opts, int argc, char **argv, int *npos, bool *help,
		 bool stop_at_positional, struct kf_err *err)
{
	int pos = 0, i, r;

	for (i = 0; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++)
				argv[pos++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (stop_at_positional) {
				for (; i < argc; i++)
					argv[pos++] = argv[i];
				break;
			}
			argv[pos++] = a;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct kf_opt *o = find_long(opts, name, len);
			char shown[160];
			if (!o && len == 4 && strncmp(name, "help", 4) == 0 && help) {
				*help = true;
				continue;
			}
			if (!o)
				return unknown_long(opts, name, len, help != NULL, err);
			snprintf(shown, sizeof(shown), "--%s", o->long_name);
			if (o->type == KF_OPT_FLAG) {
				if (eq)
					return kf_err_set(err, KF_EUSAGE, "option %s takes no value", shown);
				r = set_value(o, NULL, shown, err);
			} else if (eq) {
				r = set_value(o, eq + 1, shown, err);
			} else {
				if (i + 1 >= argc)
					return kf_err_set(err, KF_EUSAGE, "option %s needs a value (%s)",
							  shown, o->argname ? o->argname : "VALUE");
				r = set_value(o, argv[++i], shown, err);
			}
			if (r)
				return r;
			continue;
		}
		/* Short options, possibly bundled: -vq, -cFILE, -c FILE. */
		for (const char *c = a + 1; *c; c++) {
			const struct kf_opt *o = find_short(opts, *c);
			char shown[8];
			snprintf(shown, sizeof(shown), "-%c", *c);
			if (!o && *c == 'h' && help) {
				*help = true;
				continue;
			}
			if (!o)
				return kf_err_set(err, KF_EUSAGE, "unknown option -%c (see --help)", *c);
			if (o->type == KF_OPT_FLAG) {
				if ((r = set_value(o, NULL, shown, err)) != 0)
					return r;
				continue;
			}
			if (c[1]) {
				r = set_value(o, c + 1, shown, err);
			} else {
				if (i + 1 >= argc)
					return kf_err_set(err, KF_EUSAGE, "option %s needs a value (%s)",
							  shown, o->argname ? o->argname : "VALUE");
				r = set_value(o, argv[++i], shown, err);
			}
			if (r)
				return r;
			break;
		}
	}
	*npos = pos;
	return 0;
}

const struct kf_opt *kf_opt_find(const struct kf_opt *opts, const char *token, bool *inline_value)
{
	const struct kf_opt *o;

	*inline_value = false;
	if (!opts || token[0] != '-' || token[1] == '\0')
		return NULL;
	if (token[1] == '-') {
		const char *name = token + 2, *eq = strchr(name, '=');

		o = find_long(opts, name, eq ? (size_t)(eq - name) : strlen(name));
		*inline_value = o && eq;
		return o;
	}
	if (!(o = find_short(opts, token[1])) || (token[2] && o->type == KF_OPT_FLAG))
		return NULL;
	*inline_value = token[2] != '\0';
	return o;
}

char *kf_opt_usage(const struct kf_opt *opts)
{
	struct kf_buf b;
	size_t width = 0;

	kf_buf_init(&b, 0);
	for (const struct kf_opt *o = opts; o && o->type != KF_OPT_END; o++) {
		size_t w = 4 + (o->long_name ? strlen(o->long_name) + 2 : 0) +
			   (o->argname ? strlen(o->argname) + 1 : 0);
		if (w > width)
			width = w;
	}
	for (const struct kf_opt *o = opts; o && o->type != KF_OPT_END; o++) {
		char left[160];
		int n = snprintf(left, sizeof(left), "%c%c%s%s%s%s%s", o->short_name ? '-' : ' ',
				 o->short_name ? o->short_name : ' ',
				 o->short_name && o->long_name ? ", " : "  ",
				 o->long_name ? "--" : "", o->long_name ? o->long_name : "",
				 o->argname ? " " : "", o->argname ? o->argname : "");
		(void)n;
		kf_buf_printf(&b, "  %-*s  %s\n", (int)width + 2, left, o->help ? o->help : "");
	}
	return kf_buf_detach(&b);
}

void kf_strlist_free(struct kf_strlist *l)
{
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
