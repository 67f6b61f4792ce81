/* <out>/state.json: what each stage last did. A corrupt file is renamed aside and reported. */
#include "k3sforge/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

#define STATE_VERSION 1
#define STATE_MAX_BYTES (16u * 1024 * 1024)

struct kf_state {
	char *path;
	json_t *root;
	char *corrupt_moved_to;
};

static json_t *new_root(void)
{
	json_t *root = json_object();

	json_object_set_new(root, "version", json_integer(STATE_VERSION));
	json_object_set_new(root, "stages", json_object());
	return root;
}

/* Structural check: every stage record has a string status and numeric times. */
static const char *validate(json_t *root)
{
	json_t *stages, *rec;
	const char *name;

	if (!json_is_object(root))
		return "not a JSON object";
	if (json_integer_value(json_object_get(root, "version")) != STATE_VERSION)
		return "unknown state version";
	stages = json_object_get(root, "stages");
	if (!json_is_object(stages))
		return "\"stages\" is missing or not an object";
	json_object_foreach(stages, name, rec) {
		if (!json_is_object(rec) || !json_is_string(json_object_get(rec, "status")))
			return "a stage record has no status";
		if (!json_is_number(json_object_get(rec, "start_ts")) ||
		    !json_is_number(json_object_get(rec, "end_ts")))
			return "a stage record has no times";
		if (!json_is_string(json_object_get(rec, "fingerprint")) &&
		    !json_is_null(json_object_get(rec, "fingerprint")))
			return "a stage record has no fingerprint";
		if (json_object_get(rec, "error") && !json_is_string(json_object_get(rec, "error")) &&
		    !json_is_null(json_object_get(rec, "error")))
			return "a stage record has a malformed error";
	}
	return NULL;
}

int kf_state_load(struct kf_state **out, const char *dir, struct kf_err *err)
{
	struct kf_state *st;
	char *data = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	st->path = kf_path_join(dir, KF_OUT_STATE);
	r = kf_fs_read(&data, &len, st->path, STATE_MAX_BYTES, err);
	if (r == KF_ENOTFOUND) {
		kf_err_clear(err);
		st->root = new_root();
		*out = st;
		return 0;
	}
	if (r == 0) {
		json_error_t jerr;
		const char *why = NULL;
		st->root = json_loadb(data, len, 0, &jerr);
		if (!st->root)
			why = jerr.text;
		else
			why = validate(st->root);
		if (why) {
			char moved[4096];
			char stamp[32];
			time_t t = time(NULL);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
			snprintf(moved, sizeof(moved), "%s.corrupt-%s", st->path, stamp);
			/* Never overwrite an earlier corrupt copy (two in the same second). */
			for (int i = 1; kf_fs_exists(moved) && i < 1000; i++)
				snprintf(moved, sizeof(moved), "%s.corrupt-%s-%d", st->path, stamp, i);
			if (!kf_fs_exists(moved) && rename(st->path, moved) == 0) {
				st->corrupt_moved_to = strdup(moved);
				kf_warn("%s is corrupt (%s); moved it to %s and starting with no stage "
					"records, so every stage will run again",
					st->path, why, moved);
			} else {
				kf_warn("%s is corrupt (%s) and could not be moved aside; ignoring it",
					st->path, why);
			}
			json_decref(st->root);
			st->root = new_root();
		}
		free(data);
		*out = st;
		return 0;
	}
	free(data);
	kf_state_free(st);
	return r;
}

bool kf_state_get(const struct kf_state *st, const char *stage, struct kf_state_rec *rec)
{
	json_t *r = json_object_get(json_object_get(st->root, "stages"), stage);

	if (!json_is_object(r))
		return false;
	rec->status = json_string_value(json_object_get(r, "status"));
	rec->start = json_number_value(json_object_get(r, "start_ts"));
	rec->end = json_number_value(json_object_get(r, "end_ts"));
	rec->duration = json_number_value(json_object_get(r, "duration"));
	rec->fingerprint = json_string_value(json_object_get(r, "fingerprint"));
	rec->error = json_string_value(json_object_get(r, "error"));
	return rec->status != NULL;
}

int kf_state_set(struct kf_state *st, const char *stage, const char *status, double start,
		 double end, const char *fingerprint, const char *error)
{
	json_t *stages = json_object_get(st->root, "stages");
	json_t *rec = json_object_get(stages, stage);
	char ts[40];

	if (!json_is_object(rec)) {
		rec = json_object();
		json_object_set_new(stages, stage, rec);
	}
	json_object_set_new(rec, "status", json_string(status));
	kf_format_rfc3339(start, ts, sizeof(ts));
	json_object_set_new(rec, "start", json_string(ts));
	kf_format_rfc3339(end, ts, sizeof(ts));
	json_object_set_new(rec, "end", json_string(ts));
	json_object_set_new(rec, "start_ts", json_real(start));
	json_object_set_new(rec, "end_ts", json_real(end));
	json_object_set_new(rec, "duration", json_real(end > start ? end - start : 0));
	json_object_set_new(rec, "fingerprint", fingerprint ? json_string(fingerprint) : json_null());
	if (error) {
		/* An error message may be cut mid-character or quote a program's bytes. */
		char *valid = kf_utf8_valid(error, strlen(error));
		json_object_set_new(rec, "error", valid ? json_string(valid) : json_null());
		free(valid);
	} else {
		json_object_set_new(rec, "error", json_null());
	}
	return 0;
}

void kf_state_clear(struct kf_state *st, const char *stage)
{
	json_object_del(json_object_get(st->root, "stages"), stage);
}

json_t *kf_state_data(struct kf_state *st, const char *stage)
{
	json_t *data = json_object_get(st->root, "data");
	json_t *d;

	if (!json_is_object(data)) {
		data = json_object();
		json_object_set_new(st->root, "data", data);
	}
	d = json_object_get(data, stage);
	if (!json_is_object(d)) {
		d = json_object();
		json_object_set_new(data, stage, d);
	}
	return d;
}

int kf_state_save(struct kf_state *st, struct kf_err *err)
{
	char *text = json_dumps(st->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int r;

	if (!text)
		return kf_err_set(err, KF_ENOMEM, "cannot serialise state");
	{
		size_t n = strlen(text);
		char *withnl = realloc(text, n + 2);
		if (!withnl) {
			free(text);
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		}
		text = withnl;
		text[n] = '\n';
		text[n + 1] = '\0';
	}
	r = kf_fs_write_atomic(st->path, text, strlen(text), 0644, err);
	free(text);
	return r;
}

bool kf_state_was_corrupt(const struct kf_state *st, const char **moved_to)
{
	if (moved_to)
		*moved_to = st->corrupt_moved_to;
	return st->corrupt_moved_to != NULL;
}

void kf_state_free(struct kf_state *st)
{
	if (!st)
		return;
	json_decref(st->root);
	free(st->path);
	free(st->corrupt_moved_to);
	free(st);
}
