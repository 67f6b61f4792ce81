/* Findings (findings.h): a growing list, its JSON form and its log lines. */
#include "k3sforge/findings.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/err.h"
#include "k3sforge/log.h"

const char *kf_check_status_name(enum kf_check_status st)
{
	switch (st) {
	case KF_CHECK_OK: return "ok";
	case KF_CHECK_INFO: return "info";
	case KF_CHECK_WARN: return "warn";
	case KF_CHECK_FAIL: return "fail";
	}
	return "?";
}

int kf_findings_add(struct kf_findings *f, const char *id, enum kf_check_status st,
		    const char *fix, const char *fmt, ...)
{
	struct kf_finding *n = realloc(f->items, (f->n + 1) * sizeof(*n));
	va_list ap;
	char *s = NULL;
	int r;

	if (!n)
		return KF_ENOMEM;
	f->items = n;
	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return KF_ENOMEM;
	n = &f->items[f->n];
	n->id = strdup(id);
	n->status = st;
	n->summary = s;
	n->fix = fix ? strdup(fix) : NULL;
	if (!n->id || (fix && !n->fix)) {
		free(n->id);
		free(n->summary);
		free(n->fix);
		return KF_ENOMEM;
	}
	f->n++;
	return 0;
}

void kf_findings_free(struct kf_findings *f)
{
	for (size_t i = 0; f && i < f->n; i++) {
		free(f->items[i].id);
		free(f->items[i].summary);
		free(f->items[i].fix);
	}
	if (f) {
		free(f->items);
		f->items = NULL;
		f->n = 0;
	}
}

size_t kf_findings_failed(const struct kf_findings *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		if (f->items[i].status == KF_CHECK_FAIL)
			n++;
	return n;
}

json_t *kf_findings_json(const struct kf_findings *f)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < f->n; i++) {
		const struct kf_finding *x = &f->items[i];
		json_t *o = json_object();
		json_object_set_new(o, "check", json_string(x->id));
		json_object_set_new(o, "status", json_string(kf_check_status_name(x->status)));
		json_object_set_new(o, "summary", json_string(x->summary));
		json_object_set_new(o, "fix", x->fix ? json_string(x->fix) : json_null());
		json_array_append_new(a, o);
	}
	return a;
}

void kf_findings_log(const struct kf_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct kf_finding *x = &f->items[i];
		enum kf_log_level lv = x->status == KF_CHECK_OK     ? KF_LOG_OK
				       : x->status == KF_CHECK_INFO ? KF_LOG_INFO
				       : x->status == KF_CHECK_WARN ? KF_LOG_WARN
								    : KF_LOG_ERROR;
		kf_log(lv, "%-7s %s%s%s", x->id, x->summary, x->fix ? " -> fix: " : "",
		       x->fix ? x->fix : "");
	}
}
