/* Internal to src/regserver: a thin layer over libyaml's emitter that writes into a kf_buf, so the
 * YAML files k3sforge hands to other programs (registry config.yml, registries.yaml) are emitted
 * with correct quoting rather than pasted together. */
#ifndef KF_REGISTRY_YAML_OUT_H
#define KF_REGISTRY_YAML_OUT_H

#include <stdbool.h>
#include <yaml.h>

#include "k3sforge/buf.h"
#include "k3sforge/err.h"

struct kf_yout {
	yaml_emitter_t em;
	struct kf_buf buf;
	bool failed;      /* sticky: any emit error makes kf_yout_finish fail */
};

/* Starts a stream and a document (implicit "---"). */
int kf_yout_begin(struct kf_yout *y);
/* Block mapping / flow or block sequence open and close. */
void kf_yout_map_start(struct kf_yout *y, bool flow);
void kf_yout_map_end(struct kf_yout *y);
void kf_yout_seq_start(struct kf_yout *y, bool flow);
void kf_yout_seq_end(struct kf_yout *y);
/* A scalar, plain when YAML allows it for this text, quoted otherwise. */
void kf_yout_str(struct kf_yout *y, const char *s);
/* A scalar always double-quoted (endpoints, host:port keys, so no reader takes them for
 * anything but strings). */
void kf_yout_quoted(struct kf_yout *y, const char *s);
/* key: value in the current mapping. */
void kf_yout_kv(struct kf_yout *y, const char *key, const char *value);
/* Ends the document and stream; hands the text to *out (caller frees). Frees the emitter. */
int kf_yout_finish(struct kf_yout *y, char **out, const char *what, struct kf_err *err);
/* Frees after an early error. */
void kf_yout_abort(struct kf_yout *y);

#endif
