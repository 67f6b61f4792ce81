/* The command layer's generators (src/cmd/gen/): shell completions and the man page, written
 * from the command table (kf_cmd_table, kf_cmd_globals, each command's options) by
 * `k3sforge completion` and `k3sforge __man` (src/cmd/cmd_completion.c). Internal to src/cmd. */
#ifndef K3SFORGE_CMD_GEN_H
#define K3SFORGE_CMD_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/buf.h"
#include "k3sforge/cmd.h"

#ifndef KF_VERSION
#define KF_VERSION "0.0.0-dev"
#endif

#define MAX_WORDS 32

/* What the value of an option is: picked from its argument name (and, for nodes, its name). */
enum value_kind { V_NONE, V_FILE, V_DIR, V_STAGE, V_NODE, V_TEXT };

enum value_kind kf_gen_value_kind(const struct kf_opt *o);
bool kf_gen_is_help_opt(const struct kf_opt *o);
bool kf_gen_cmd_has(const struct kf_cmd *c, const struct kf_opt *g);
bool kf_gen_global_applies(const struct kf_cmd *c, const struct kf_opt *g);
int kf_gen_subcommands(const struct kf_cmd *c, char *storage, size_t cap, const char **words);
bool kf_gen_takes_positional(const struct kf_cmd *c);
bool kf_gen_visible(const struct kf_cmd *c);
void kf_gen_stage_words(struct kf_buf *b);
void kf_gen_sh_quoted(struct kf_buf *b, const char *s);
void kf_gen_plain_desc(struct kf_buf *b, const char *s);

/* The scripts and the page, appended to b. */
void kf_gen_bash(struct kf_buf *b);
void kf_gen_zsh(struct kf_buf *b);
void kf_gen_fish(struct kf_buf *b);
void kf_gen_powershell(struct kf_buf *b);
void kf_gen_man(struct kf_buf *b);

#endif
