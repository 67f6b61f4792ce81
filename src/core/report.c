/* How findings, configuration problems and questions reach the user: typed JSON events with
 * --json (host_check, config_problem; docs/events.md), text otherwise. Modules return the
 * findings; only this layer decides where they are shown. */
#include <ctype.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/report.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

void kf_report_findings(const struct kf_findings *f, const char *scope, bool as_data)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct kf_finding *x = &f->items[i];
		if (kf_log_json()) {
			json_t *o = json_object();
			char *s;
			json_object_set_new(o, "scope", json_string(scope));
			json_object_set_new(o, "check", kf_json_text(x->id ? x->id : ""));
			json_object_set_new(o, "status", json_string(kf_check_status_name(x->status)));
			json_object_set_new(o, "summary", kf_json_text(x->summary ? x->summary : ""));
			json_object_set_new(o, "fix", x->fix ? kf_json_text(x->fix) : json_null());
			s = kf_json_dumps(o);
			kf_log_event("host_check", s);
			free(s);
			json_decref(o);
		} else if (as_data) {
			kf_log_data("%-5s %-14s %s%s%s", kf_check_status_name(x->status), x->id,
				    x->summary, x->fix ? "\n      fix: " : "", x->fix ? x->fix : "");
		}
	}
	if (!kf_log_json() && !as_data)
		kf_findings_log(f);
}

/* Splits "file:line:col: message" at the first ":<digits>:<digits>: " (a Windows path keeps its
 * drive colon). Returns false when msg has no such position. */
static bool split_position(const char *msg, size_t *file_len, long *line, long *col,
			   const char **text)
{
	for (const char *p = strchr(msg, ':'); p; p = strchr(p + 1, ':')) {
		char *e1, *e2;
		if (!isdigit((unsigned char)p[1]))
			continue;
		*line = strtol(p + 1, &e1, 10);
		if (*e1 != ':' || !isdigit((unsigned char)e1[1]))
			continue;
		*col = strtol(e1 + 1, &e2, 10);
		if (e2[0] != ':' || e2[1] != ' ')
			continue;
		*file_len = (size_t)(p - msg);
		*text = e2 + 2;
		return true;
	}
	return false;
}

void kf_report_config_problem(const char *msg)
{
	json_t *o;
	size_t flen;
	long line, col;
	const char *text;
	char *s;

	if (!kf_log_json()) {
		kf_error("%s", msg);
		return;
	}
	o = json_object();
	if (split_position(msg, &flen, &line, &col, &text)) {
		char *file = strndup(msg, flen);
		json_object_set_new(o, "file", kf_json_text(file ? file : ""));
		json_object_set_new(o, "line", json_integer(line));
		json_object_set_new(o, "col", json_integer(col));
		json_object_set_new(o, "problem", kf_json_text(text));
		free(file);
	} else {
		json_object_set_new(o, "problem", kf_json_text(msg));
	}
	json_object_set_new(o, "msg", kf_json_text(msg));
	s = kf_json_dumps(o);
	kf_log_event("config_problem", s);
	free(s);
	json_decref(o);
}

int kf_confirm(bool yes, const char *prompt, const char *offtty, const char *refused,
	       struct kf_err *err)
{
	char line[16];

	if (yes)
		return 0;
	if (!kf_platform_isatty(0))
		return kf_err_set(err, KF_ESTATE, "%s", offtty);
	fprintf(stderr, "%s [y/N] ", prompt);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
		return kf_err_set(err, KF_ESTATE, "%s", refused);
	return 0;
}
