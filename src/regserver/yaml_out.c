/* libyaml emitter into a bounded kf_buf (see yaml_out.h). */
#include "yaml_out.h"

#include <stdlib.h>
#include <string.h>

#define YOUT_MAX ((size_t)1024 * 1024)

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	struct kf_yout *y = data;
	return kf_buf_append(&y->buf, buffer, size) == 0;
}

static void emit(struct kf_yout *y, yaml_event_t *ev, int init_ok)
{
	if (!init_ok) {
		y->failed = true;
		return;
	}
	if (y->failed) {
		yaml_event_delete(ev);
		return;
	}
	/* yaml_emitter_emit takes ownership of the event, also on failure. */
	if (!yaml_emitter_emit(&y->em, ev))
		y->failed = true;
}

int kf_yout_begin(struct kf_yout *y)
{
	yaml_event_t ev;

	memset(y, 0, sizeof(*y));
	kf_buf_init(&y->buf, YOUT_MAX);
	if (!yaml_emitter_initialize(&y->em))
		return KF_ENOMEM;
	yaml_emitter_set_output(&y->em, write_handler, y);
	yaml_emitter_set_unicode(&y->em, 1);
	yaml_emitter_set_width(&y->em, 200);
	yaml_emitter_set_indent(&y->em, 2);
	emit(y, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	emit(y, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	return y->failed ? KF_ENOMEM : 0;
}

void kf_yout_map_start(struct kf_yout *y, bool flow)
{
	yaml_event_t ev;
	emit(y, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
			flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE));
}

void kf_yout_map_end(struct kf_yout *y)
{
	yaml_event_t ev;
	emit(y, &ev, yaml_mapping_end_event_initialize(&ev));
}

void kf_yout_seq_start(struct kf_yout *y, bool flow)
{
	yaml_event_t ev;
	emit(y, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
			flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE));
}

void kf_yout_seq_end(struct kf_yout *y)
{
	yaml_event_t ev;
	emit(y, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void scalar(struct kf_yout *y, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	if (!s) {
		y->failed = true;
		return;
	}
	emit(y, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
			(int)strlen(s), 1, 1, style));
}

void kf_yout_str(struct kf_yout *y, const char *s)
{
	/* The emitter falls back to quoting when plain would change the meaning ("*", "a: b"). */
	scalar(y, s, YAML_ANY_SCALAR_STYLE);
}

void kf_yout_quoted(struct kf_yout *y, const char *s)
{
	scalar(y, s, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

void kf_yout_kv(struct kf_yout *y, const char *key, const char *value)
{
	kf_yout_str(y, key);
	kf_yout_str(y, value);
}

int kf_yout_finish(struct kf_yout *y, char **out, const char *what, struct kf_err *err)
{
	yaml_event_t ev;

	*out = NULL;
	emit(y, &ev, yaml_document_end_event_initialize(&ev, 1));
	emit(y, &ev, yaml_stream_end_event_initialize(&ev));
	if (!y->failed && !yaml_emitter_flush(&y->em))
		y->failed = true;
	if (y->failed) {
		int r = kf_err_set(err, KF_EFAIL, "cannot emit %s: %s", what,
				   y->em.problem ? y->em.problem : "emitter error");
		kf_yout_abort(y);
		return r;
	}
	yaml_emitter_delete(&y->em);
	*out = kf_buf_detach(&y->buf);
	kf_buf_free(&y->buf);
	return *out ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory emitting %s", what);
}

void kf_yout_abort(struct kf_yout *y)
{
	yaml_emitter_delete(&y->em);
	kf_buf_free(&y->buf);
}
