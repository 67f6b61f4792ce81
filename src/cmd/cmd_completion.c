/* k3sforge completion bash|zsh|fish|powershell, and the hidden `k3sforge __man`: shell
 * completions and the man page, generated from the same command table and option arrays as
 * --help (kf_cmd_table, kf_cmd_globals, each command's opts), the subcommands named in each
 * command's usage line, and the stage names of `up` for --from. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/cmd.h"
#include "k3sforge/stage.h"
#include "k3sforge/stages.h"

#ifndef KF_VERSION
#define KF_VERSION "0.0.0-dev"
#endif

const struct kf_cmd *const *kf_cmd_table;
const struct kf_opt *kf_cmd_globals;

extern const struct kf_cmd kf_cmd_completion;
extern const struct kf_cmd kf_cmd_man;

#define MAX_WORDS 32

/* What the value of an option is: picked from its argument name (and, for nodes, its name). */
enum value_kind { V_NONE, V_FILE, V_DIR, V_STAGE, V_NODE, V_TEXT };

static enum value_kind value_kind(const struct kf_opt *o)
{
	if (o->type == KF_OPT_FLAG)
		return V_NONE;
	if (o->long_name && strcmp(o->long_name, "node") == 0)
		return V_NODE;
	if (!o->argname)
		return V_TEXT;
	if (strcmp(o->argname, "FILE") == 0 || strcmp(o->argname, "F") == 0)
		return V_FILE;
	if (strcmp(o->argname, "DIR") == 0)
		return V_DIR;
	if (strcmp(o->argname, "STAGE") == 0)
		return V_STAGE;
	return V_TEXT;
}

static bool is_help_opt(const struct kf_opt *o)
{
	return o->long_name && strcmp(o->long_name, "help") == 0;
}

/* Does the command have an option of this long or short name (it wins over a global one)? */
static bool cmd_has(const struct kf_cmd *c, const struct kf_opt *g)
{
	for (const struct kf_opt *o = c ? c->opts : NULL; o && o->type != KF_OPT_END; o++)
		if ((g->long_name && o->long_name && strcmp(g->long_name, o->long_name) == 0) ||
		    (g->short_name && o->short_name == g->short_name))
			return true;
	return false;
}

/* The global options that apply after command c (all of them but --help/--version and those
 * the command has itself); c NULL: before any command (all but --help/--version, which the
 * caller adds). */
static bool global_applies(const struct kf_cmd *c, const struct kf_opt *g)
{
	if (is_help_opt(g) || (g->long_name && strcmp(g->long_name, "version") == 0))
		return c == NULL;
	return !cmd_has(c, g);
}

/* Subcommands named in the usage line: every "<name> a|b|c" (lowercase words) after the
 * command's own name, e.g. "registry start|stop|status | registry ls" -> start stop status ls.
 * Fills words (pointers into storage) and returns their count. */
static int subcommands(const struct kf_cmd *c, char *storage, size_t cap, const char **words)
{
	size_t nl = strlen(c->name), used = 0;
	const char *u = c->usage ? c->usage : "";
	int n = 0;

	for (const char *p = strstr(u, c->name); p; p = strstr(p + 1, c->name)) {
		const char *t = p + nl, *e;
		if ((p != u && p[-1] != ' ') || *t != ' ')
			continue;
		t++;
		for (e = t; *e && *e != ' '; e++)
			if (!islower((unsigned char)*e) && *e != '|' && *e != '-')
				break;
		if (e == t || (*e && *e != ' ') || !islower((unsigned char)*t))
			continue;
		while (t < e && n < MAX_WORDS) {
			const char *bar = memchr(t, '|', (size_t)(e - t));
			size_t len = (size_t)((bar ? bar : e) - t);
			bool dup = false;
			if (len && used + len + 1 <= cap) {
				memcpy(storage + used, t, len);
				storage[used + len] = '\0';
				for (int i = 0; i < n; i++)
					dup = dup || strcmp(words[i], storage + used) == 0;
				if (!dup) {
					words[n++] = storage + used;
					used += len + 1;
				}
			}
			t += len + (bar ? 1 : 0);
		}
	}
	return n;
}

/* Does the usage line name a positional argument (an upper-case word not the value of an
 * option), such as backup FILE, snapshot create [NAME], mirror [IMAGE...]? */
static bool takes_positional(const struct kf_cmd *c)
{
	const char *u = c->usage ? c->usage : "";
	char prev[64] = "", tok[64];
	int len;

	while (sscanf(u, " %63s%n", tok, &len) == 1) {
		const char *t = tok;
		u += len;
		while (*t == '[' || *t == '(')
			t++;
		if (isupper((unsigned char)*t)) {
			const char *p = prev;
			while (*p == '[' || *p == '(')
				p++;
			if (*p != '-')
				return true;
		}
		snprintf(prev, sizeof(prev), "%s", tok);
	}
	return false;
}

static bool visible(const struct kf_cmd *c)
{
	return !c->hidden;
}

/* The stage names of `up`, space-separated. */
static void stage_words(struct kf_buf *b)
{
	for (int i = 0; kf_up_stages[i]; i++)
		kf_buf_printf(b, "%s%s", i ? " " : "", kf_up_stages[i]->name);
}

/* A single-quoted POSIX shell word (bash, zsh). */
static void sh_quoted(struct kf_buf *b, const char *s)
{
	kf_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			kf_buf_puts(b, "'\\''");
		else
			kf_buf_putc(b, *s);
	}
	kf_buf_putc(b, '\'');
}

/* A description on one line without the characters zsh's _arguments and fish treat specially. */
static void plain_desc(struct kf_buf *b, const char *s)
{
	for (; s && *s; s++) {
		char c = *s;
		if (c == '[' || c == '(' || c == '{')
			c = '(';
		else if (c == ']' || c == ')' || c == '}')
			c = ')';
		else if (c == ':' || c == '\n' || c == '\t')
			c = ' ';
		else if (c == '\'' || c == '"' || c == '`' || c == '\\' || c == '$')
			continue;
		kf_buf_putc(b, c);
	}
}

/* ---- bash ---- */

static const char *bash_kind(enum value_kind k)
{
	switch (k) {
	case V_FILE: return "file";
	case V_DIR: return "dir";
	case V_STAGE: return "stage";
	case V_NODE: return "node";
	case V_TEXT: return "text";
	default: return "";
	}
}

static void bash_value_cases(struct kf_buf *b, const struct kf_cmd *c, const struct kf_opt *opts)
{
	for (const struct kf_opt *o = opts; o && o->type != KF_OPT_END; o++) {
		enum value_kind k = value_kind(o);
		if (k == V_NONE)
			continue;
		kf_buf_puts(b, "\t\t");
		if (o->short_name)
			kf_buf_printf(b, "%s%s\" -%c\"%s", c ? c->name : "", c ? "" : "*", o->short_name,
				      o->long_name ? "|" : "");
		if (o->long_name)
			kf_buf_printf(b, "%s%s\" --%s\"", c ? c->name : "", c ? "" : "*", o->long_name);
		kf_buf_printf(b, ") echo %s ;;\n", bash_kind(k));
	}
}

static void bash_option_words(struct kf_buf *b, const struct kf_cmd *c)
{
	for (const struct kf_opt *o = c ? c->opts : NULL; o && o->type != KF_OPT_END; o++) {
		if (o->short_name)
			kf_buf_printf(b, " -%c", o->short_name);
		if (o->long_name)
			kf_buf_printf(b, " --%s", o->long_name);
	}
	for (const struct kf_opt *g = kf_cmd_globals; g && g->type != KF_OPT_END; g++) {
		if (!global_applies(c, g))
			continue;
		if (g->short_name)
			kf_buf_printf(b, " -%c", g->short_name);
		if (g->long_name)
			kf_buf_printf(b, " --%s", g->long_name);
	}
	if (c) /* the globals before a command have -h/--help already */
		kf_buf_puts(b, " -h --help");
}

static void gen_bash(struct kf_buf *b)
{
	char store[512];
	const char *subs[MAX_WORDS];

	kf_buf_puts(b,
		"# bash completion for k3sforge " KF_VERSION ", generated by `k3sforge completion bash`\n"
		"# from its command table. Load it now:  source <(k3sforge completion bash)\n"
		"# or install it as /usr/share/bash-completion/completions/k3sforge.\n\n"
		"# The kind of value option $2 takes after command $1 (empty: a flag).\n"
		"_k3sforge_value()\n{\n\tcase \"$1 $2\" in\n");
	for (int i = 0; kf_cmd_table[i]; i++)
		if (visible(kf_cmd_table[i]))
			bash_value_cases(b, kf_cmd_table[i], kf_cmd_table[i]->opts);
	bash_value_cases(b, NULL, kf_cmd_globals);
	kf_buf_puts(b, "\tesac\n}\n\n# The options of command $1 (none: before the command).\n"
		       "_k3sforge_options()\n{\n\tcase \"$1\" in\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		if (!visible(kf_cmd_table[i]))
			continue;
		kf_buf_printf(b, "\t\t%s) echo '", kf_cmd_table[i]->name);
		bash_option_words(b, kf_cmd_table[i]);
		kf_buf_puts(b, "' ;;\n");
	}
	kf_buf_puts(b, "\t\t'') echo '");
	bash_option_words(b, NULL);
	kf_buf_puts(b, "' ;;\n\t\t*) echo '-h --help' ;;\n\tesac\n}\n\n"
		       "# The subcommands of command $1 (help: the commands).\n"
		       "_k3sforge_subcommands()\n{\n\tcase \"$1\" in\n\t\thelp) echo '");
	for (int i = 0; kf_cmd_table[i]; i++)
		if (visible(kf_cmd_table[i]))
			kf_buf_printf(b, "%s%s", i ? " " : "", kf_cmd_table[i]->name);
	kf_buf_puts(b, "' ;;\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		int n;
		if (!visible(kf_cmd_table[i]))
			continue;
		n = subcommands(kf_cmd_table[i], store, sizeof(store), subs);
		if (n == 0)
			continue;
		kf_buf_printf(b, "\t\t%s) echo '", kf_cmd_table[i]->name);
		for (int j = 0; j < n; j++)
			kf_buf_printf(b, "%s%s", j ? " " : "", subs[j]);
		kf_buf_puts(b, "' ;;\n");
	}
	kf_buf_puts(b, "\tesac\n}\n\n# Commands that take a positional argument (a file, an image, a name).\n"
		       "_k3sforge_positional()\n{\n\tcase \"$1\" in\n\t\t");
	{
		int n = 0;
		for (int i = 0; kf_cmd_table[i]; i++)
			if (visible(kf_cmd_table[i]) && takes_positional(kf_cmd_table[i]))
				kf_buf_printf(b, "%s%s", n++ ? "|" : "", kf_cmd_table[i]->name);
		if (n == 0)
			kf_buf_puts(b, "__none__");
	}
	kf_buf_puts(b, ") return 0 ;;\n\tesac\n\treturn 1\n}\n\n");
	kf_buf_puts(b,
		"# The node names of the configuration (-c FILE, else ./k3sforge.yaml): read with\n"
		"# `k3sforge config show`, which reads only that file (no network, no lock).\n"
		"_k3sforge_nodes()\n{\n"
		"\t\"${COMP_WORDS[0]}\" \"$@\" --no-color config show 2>/dev/null |\n"
		"\t\tawk '/^nodes:/ { n = 1; next } /^[^ #]/ { n = 0 } n && $1 == \"-\" && $2 == \"name:\" { print $3 }'\n"
		"}\n\n"
		"_k3sforge()\n{\n"
		"\tlocal cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"\" cmd=\"\" sub=\"\" w kind i\n"
		"\tlocal -a cfg=()\n"
		"\tCOMPREPLY=()\n"
		"\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
		"\t\tw=\"${COMP_WORDS[i]}\"\n"
		"\t\tif [[ $w == -* ]]; then\n"
		"\t\t\tkind=$(_k3sforge_value \"$cmd\" \"$w\")\n"
		"\t\t\tif [[ -n $kind ]]; then\n"
		"\t\t\t\t[[ $w == -c || $w == --config ]] && cfg=(-c \"${COMP_WORDS[i + 1]}\")\n"
		"\t\t\t\t((i++))\n"
		"\t\t\tfi\n"
		"\t\t\tcontinue\n"
		"\t\tfi\n"
		"\t\tif [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi\n"
		"\tdone\n"
		"\t((COMP_CWORD > 1)) && prev=\"${COMP_WORDS[COMP_CWORD - 1]}\"\n"
		"\tkind=\"\"\n"
		"\t[[ $prev == -* ]] && kind=$(_k3sforge_value \"$cmd\" \"$prev\")\n"
		"\tcase \"$kind\" in\n"
		"\t\tfile) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n"
		"\t\tdir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\")); return 0 ;;\n"
		"\t\tstage) COMPREPLY=($(compgen -W '");
	stage_words(b);
	kf_buf_puts(b,
		"' -- \"$cur\")); return 0 ;;\n"
		"\t\tnode) COMPREPLY=($(compgen -W \"$(_k3sforge_nodes \"${cfg[@]}\")\" -- \"$cur\")); return 0 ;;\n"
		"\t\ttext) return 0 ;;\n"
		"\tesac\n"
		"\tif [[ $cur == -* ]]; then\n"
		"\t\tCOMPREPLY=($(compgen -W \"$(_k3sforge_options \"$cmd\")\" -- \"$cur\"))\n"
		"\t\treturn 0\n"
		"\tfi\n"
		"\tif [[ -z $cmd ]]; then\n"
		"\t\tCOMPREPLY=($(compgen -W '");
	for (int i = 0; kf_cmd_table[i]; i++)
		if (visible(kf_cmd_table[i]))
			kf_buf_printf(b, "%s ", kf_cmd_table[i]->name);
	kf_buf_puts(b,
		"help' -- \"$cur\"))\n"
		"\t\treturn 0\n"
		"\tfi\n"
		"\tlocal subs\n"
		"\tsubs=$(_k3sforge_subcommands \"$cmd\")\n"
		"\tif [[ -z $sub && -n $subs ]]; then\n"
		"\t\tCOMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n"
		"\t\treturn 0\n"
		"\tfi\n"
		"\tif _k3sforge_positional \"$cmd\"; then\n"
		"\t\tcompopt -o filenames 2>/dev/null\n"
		"\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
		"\tfi\n"
		"\treturn 0\n"
		"}\n"
		"complete -F _k3sforge k3sforge\n");
}

/* ---- zsh ---- */

static void zsh_action(struct kf_buf *b, const struct kf_opt *o)
{
	kf_buf_printf(b, ":%s:", o->argname ? o->argname : "value");
	switch (value_kind(o)) {
	case V_FILE: kf_buf_puts(b, "_files"); break;
	case V_DIR: kf_buf_puts(b, "_files -/"); break;
	case V_STAGE:
		kf_buf_putc(b, '(');
		stage_words(b);
		kf_buf_putc(b, ')');
		break;
	case V_NODE: kf_buf_puts(b, "_k3sforge_nodes"); break;
	default: kf_buf_puts(b, " "); break;
	}
}

static void zsh_opt(struct kf_buf *b, const struct kf_opt *o)
{
	struct kf_buf d;

	kf_buf_init(&d, 0);
	plain_desc(&d, o->help);
	kf_buf_puts(b, " \\\n\t\t");
	/* '*' (repeatable) inside the quotes: unquoted, zsh would take it for a glob */
	if (o->short_name && o->long_name && o->type != KF_OPT_LIST)
		kf_buf_printf(b, "'(-%c --%s)'{-%c,--%s}'", o->short_name, o->long_name,
			      o->short_name, o->long_name);
	else if (o->long_name)
		kf_buf_printf(b, "'%s--%s", o->type == KF_OPT_LIST ? "*" : "", o->long_name);
	else
		kf_buf_printf(b, "'%s-%c", o->type == KF_OPT_LIST ? "*" : "", o->short_name);
	kf_buf_printf(b, "[%s]", kf_buf_str(&d) ? kf_buf_str(&d) : "");
	if (o->type != KF_OPT_FLAG)
		zsh_action(b, o);
	kf_buf_putc(b, '\'');
	kf_buf_free(&d);
}

static void gen_zsh(struct kf_buf *b)
{
	char store[512];
	const char *subs[MAX_WORDS];

	kf_buf_puts(b,
		"#compdef k3sforge\n"
		"# zsh completion for k3sforge " KF_VERSION ", generated by `k3sforge completion zsh` from\n"
		"# its command table. Install it as _k3sforge in a directory of $fpath, or load it now:\n"
		"#   source <(k3sforge completion zsh)\n\n"
		"_k3sforge_nodes()\n{\n"
		"\tlocal -a nodes\n"
		"\tnodes=(${(f)\"$(k3sforge ${kf_cfg:+-c \"$kf_cfg\"} --no-color config show 2>/dev/null |\n"
		"\t\tawk '/^nodes:/ { n = 1; next } /^[^ #]/ { n = 0 } n && $1 == \"-\" && $2 == \"name:\" { print $3 }')\"})\n"
		"\tcompadd -a nodes\n"
		"}\n\n"
		"_k3sforge()\n{\n"
		"\tlocal curcontext=\"$curcontext\" state line\n"
		"\tlocal -a commands\n"
		"\tcommands=(\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		struct kf_buf d;
		if (!visible(kf_cmd_table[i]))
			continue;
		kf_buf_init(&d, 0);
		kf_buf_printf(&d, "%s:", kf_cmd_table[i]->name);
		plain_desc(&d, kf_cmd_table[i]->summary);
		kf_buf_puts(b, "\t\t");
		sh_quoted(b, kf_buf_str(&d));
		kf_buf_putc(b, '\n');
		kf_buf_free(&d);
	}
	kf_buf_puts(b, "\t\t'help:show help for a command'\n\t)\n\t_arguments -C");
	for (const struct kf_opt *g = kf_cmd_globals; g && g->type != KF_OPT_END; g++)
		zsh_opt(b, g);
	kf_buf_puts(b, " \\\n\t\t'1:command:->command' \\\n\t\t'*::arg:->args'\n"
		       "\tcase $state in\n"
		       "\tcommand)\n\t\t_describe -t commands 'k3sforge command' commands\n\t\t;;\n"
		       "\targs)\n"
		       "\t\tlocal kf_cfg=${opt_args[-c]:-${opt_args[--config]}}\n"
		       "\t\tcase $words[1] in\n"
		       "\t\thelp)\n\t\t\t_describe -t commands 'k3sforge command' commands\n\t\t\t;;\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		const struct kf_cmd *c = kf_cmd_table[i];
		int n;
		if (!visible(c))
			continue;
		kf_buf_printf(b, "\t\t%s)\n\t\t\t_arguments", c->name);
		for (const struct kf_opt *o = c->opts; o && o->type != KF_OPT_END; o++)
			zsh_opt(b, o);
		for (const struct kf_opt *g = kf_cmd_globals; g && g->type != KF_OPT_END; g++)
			if (global_applies(c, g))
				zsh_opt(b, g);
		kf_buf_puts(b, " \\\n\t\t\t\t'(- *)'{-h,--help}'[show help]'");
		n = subcommands(c, store, sizeof(store), subs);
		if (n) {
			kf_buf_puts(b, " \\\n\t\t\t\t'1:subcommand:(");
			for (int j = 0; j < n; j++)
				kf_buf_printf(b, "%s%s", j ? " " : "", subs[j]);
			kf_buf_puts(b, ")'");
		}
		if (takes_positional(c))
			kf_buf_puts(b, " \\\n\t\t\t\t'*:argument:_files'");
		kf_buf_puts(b, "\n\t\t\t;;\n");
	}
	kf_buf_puts(b, "\t\tesac\n\t\t;;\n\tesac\n}\n\n"
		       "if [ \"$funcstack[1]\" = \"_k3sforge\" ]; then\n"
		       "\t_k3sforge \"$@\"\n"
		       "else\n"
		       "\tcompdef _k3sforge k3sforge\n"
		       "fi\n");
}

/* ---- fish ---- */

static void fish_quoted(struct kf_buf *b, const char *s)
{
	kf_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			kf_buf_putc(b, '\\');
		kf_buf_putc(b, *s == '\n' ? ' ' : *s);
	}
	kf_buf_putc(b, '\'');
}

static void fish_opt(struct kf_buf *b, const char *cond, const struct kf_opt *o)
{
	kf_buf_puts(b, "complete -c k3sforge");
	if (cond) {
		kf_buf_puts(b, " -n ");
		fish_quoted(b, cond);
	}
	if (o->short_name)
		kf_buf_printf(b, " -s %c", o->short_name);
	if (o->long_name)
		kf_buf_printf(b, " -l %s", o->long_name);
	switch (value_kind(o)) {
	case V_FILE: kf_buf_puts(b, " -r -F"); break;
	case V_DIR: kf_buf_puts(b, " -x -a '(__fish_complete_directories)'"); break;
	case V_STAGE:
		kf_buf_puts(b, " -x -a '");
		stage_words(b);
		kf_buf_putc(b, '\'');
		break;
	case V_NODE: kf_buf_puts(b, " -x -a '(__k3sforge_nodes)'"); break;
	case V_TEXT: kf_buf_puts(b, " -x"); break;
	default: break;
	}
	if (o->help) {
		struct kf_buf d;
		kf_buf_init(&d, 0);
		plain_desc(&d, o->help);
		kf_buf_puts(b, " -d ");
		fish_quoted(b, kf_buf_str(&d) ? kf_buf_str(&d) : "");
		kf_buf_free(&d);
	}
	kf_buf_putc(b, '\n');
}

static void gen_fish(struct kf_buf *b)
{
	char store[512];
	const char *subs[MAX_WORDS];
	struct kf_buf all;

	kf_buf_init(&all, 0);
	for (int i = 0; kf_cmd_table[i]; i++)
		if (visible(kf_cmd_table[i]))
			kf_buf_printf(&all, "%s ", kf_cmd_table[i]->name);
	kf_buf_puts(&all, "help");
	kf_buf_puts(b,
		"# fish completion for k3sforge " KF_VERSION ", generated by `k3sforge completion fish`\n"
		"# from its command table. Install it as ~/.config/fish/completions/k3sforge.fish, or\n"
		"# load it now:  k3sforge completion fish | source\n\n"
		"# The node names of the configuration (-c FILE, else ./k3sforge.yaml), read with\n"
		"# `k3sforge config show`, which reads only that file (no network, no lock).\n"
		"function __k3sforge_nodes\n"
		"\tset -l t (commandline -opc)\n"
		"\tset -l cfg\n"
		"\tfor i in (seq (count $t))\n"
		"\t\tif contains -- $t[$i] -c --config; and test $i -lt (count $t)\n"
		"\t\t\tset cfg -c $t[(math $i + 1)]\n"
		"\t\tend\n"
		"\tend\n"
		"\t$t[1] $cfg --no-color config show 2>/dev/null | awk '/^nodes:/ { n = 1; next } /^[^ #]/ { n = 0 } n && $1 == \"-\" && $2 == \"name:\" { print $3 }'\n"
		"end\n\n"
		"complete -c k3sforge -f\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		const struct kf_cmd *c = kf_cmd_table[i];
		if (!visible(c))
			continue;
		kf_buf_printf(b, "complete -c k3sforge -n '__fish_use_subcommand' -a %s -d ", c->name);
		fish_quoted(b, c->summary);
		kf_buf_putc(b, '\n');
	}
	kf_buf_puts(b, "complete -c k3sforge -n '__fish_use_subcommand' -a help -d 'show help for a command'\n");
	kf_buf_printf(b, "complete -c k3sforge -n '__fish_seen_subcommand_from help' -a '%s'\n",
		      kf_buf_str(&all));
	/* Global options: anywhere (--help/--version before a command only). */
	for (const struct kf_opt *g = kf_cmd_globals; g && g->type != KF_OPT_END; g++)
		fish_opt(b, global_applies(NULL, g) && !is_help_opt(g) &&
				    !(g->long_name && strcmp(g->long_name, "version") == 0) ? NULL : "__fish_use_subcommand",
			 g);
	for (int i = 0; kf_cmd_table[i]; i++) {
		const struct kf_cmd *c = kf_cmd_table[i];
		char cond[256];
		int n;
		if (!visible(c))
			continue;
		snprintf(cond, sizeof(cond), "__fish_seen_subcommand_from %s", c->name);
		for (const struct kf_opt *o = c->opts; o && o->type != KF_OPT_END; o++)
			fish_opt(b, cond, o);
		kf_buf_printf(b, "complete -c k3sforge -n '%s' -s h -l help -d 'show help'\n", cond);
		n = subcommands(c, store, sizeof(store), subs);
		if (n) {
			struct kf_buf w;
			kf_buf_init(&w, 0);
			for (int j = 0; j < n; j++)
				kf_buf_printf(&w, "%s%s", j ? " " : "", subs[j]);
			kf_buf_printf(b,
				"complete -c k3sforge -n '%s; and not __fish_seen_subcommand_from %s' -a '%s'\n",
				cond, kf_buf_str(&w), kf_buf_str(&w));
			kf_buf_free(&w);
		}
		if (takes_positional(c)) {
			kf_buf_printf(b, "complete -c k3sforge -n '%s", cond);
			if (n) { /* after the subcommand only */
				kf_buf_puts(b, "; and __fish_seen_subcommand_from");
				for (int j = 0; j < n; j++)
					kf_buf_printf(b, " %s", subs[j]);
			}
			kf_buf_puts(b, "' -F\n");
		}
	}
	kf_buf_free(&all);
}

/* ---- PowerShell ---- */

static void ps_quoted(struct kf_buf *b, const char *s)
{
	kf_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			kf_buf_putc(b, '\'');
		kf_buf_putc(b, *s == '\n' ? ' ' : *s);
	}
	kf_buf_putc(b, '\'');
}

static void ps_opts(struct kf_buf *b, const struct kf_cmd *c)
{
	bool first = true;

	for (const struct kf_opt *o = c ? c->opts : NULL; o && o->type != KF_OPT_END; o++) {
		if (!o->long_name)
			continue;
		kf_buf_printf(b, "%s'--%s'", first ? "" : ", ", o->long_name);
		first = false;
	}
	for (const struct kf_opt *g = kf_cmd_globals; g && g->type != KF_OPT_END; g++) {
		if (!global_applies(c, g) || is_help_opt(g) || !g->long_name)
			continue;
		kf_buf_printf(b, "%s'--%s'", first ? "" : ", ", g->long_name);
		first = false;
	}
	kf_buf_printf(b, "%s'--help'", first ? "" : ", ");
}

static void ps_values(struct kf_buf *b, const struct kf_cmd *c, const struct kf_opt *opts)
{
	for (const struct kf_opt *o = opts; o && o->type != KF_OPT_END; o++) {
		enum value_kind k = value_kind(o);
		if (k == V_NONE || !o->long_name)
			continue;
		kf_buf_printf(b, "\t\t'%s --%s' = ", c ? c->name : "*", o->long_name);
		if (k == V_STAGE) {
			kf_buf_puts(b, "@(");
			for (int i = 0; kf_up_stages[i]; i++)
				kf_buf_printf(b, "%s'%s'", i ? ", " : "", kf_up_stages[i]->name);
			kf_buf_puts(b, ")\n");
		} else {
			kf_buf_printf(b, "'%s'\n", k == V_FILE || k == V_DIR ? "path" : "text");
		}
		if (o->short_name) {
			kf_buf_printf(b, "\t\t'%s -%c' = ", c ? c->name : "*", o->short_name);
			kf_buf_printf(b, "'%s'\n", k == V_FILE || k == V_DIR ? "path" : "text");
		}
	}
}

static void gen_powershell(struct kf_buf *b)
{
	char store[512];
	const char *subs[MAX_WORDS];

	kf_buf_puts(b,
		"# PowerShell completion for k3sforge " KF_VERSION ", generated by\n"
		"# `k3sforge completion powershell` from its command table. Load it in your profile:\n"
		"#   k3sforge completion powershell | Out-String | Invoke-Expression\n\n"
		"Register-ArgumentCompleter -Native -CommandName 'k3sforge' -ScriptBlock {\n"
		"\tparam($wordToComplete, $commandAst, $cursorPosition)\n"
		"\t$commands = [ordered]@{\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		if (!visible(kf_cmd_table[i]))
			continue;
		kf_buf_printf(b, "\t\t'%s' = ", kf_cmd_table[i]->name);
		ps_quoted(b, kf_cmd_table[i]->summary);
		kf_buf_putc(b, '\n');
	}
	kf_buf_puts(b, "\t\t'help' = 'show help for a command'\n\t}\n\t$subs = @{\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		int n;
		if (!visible(kf_cmd_table[i]))
			continue;
		n = subcommands(kf_cmd_table[i], store, sizeof(store), subs);
		if (!n)
			continue;
		kf_buf_printf(b, "\t\t'%s' = @(", kf_cmd_table[i]->name);
		for (int j = 0; j < n; j++)
			kf_buf_printf(b, "%s'%s'", j ? ", " : "", subs[j]);
		kf_buf_puts(b, ")\n");
	}
	kf_buf_puts(b, "\t\t'help' = @($commands.Keys)\n\t}\n\t$opts = @{\n\t\t'' = @(");
	ps_opts(b, NULL);
	kf_buf_puts(b, ")\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		if (!visible(kf_cmd_table[i]))
			continue;
		kf_buf_printf(b, "\t\t'%s' = @(", kf_cmd_table[i]->name);
		ps_opts(b, kf_cmd_table[i]);
		kf_buf_puts(b, ")\n");
	}
	kf_buf_puts(b, "\t}\n\t# What the value of an option is: a list, 'path' or 'text'.\n\t$values = @{\n");
	for (int i = 0; kf_cmd_table[i]; i++)
		if (visible(kf_cmd_table[i]))
			ps_values(b, kf_cmd_table[i], kf_cmd_table[i]->opts);
	ps_values(b, NULL, kf_cmd_globals);
	kf_buf_puts(b,
		"\t}\n"
		"\t$words = @($commandAst.CommandElements | ForEach-Object { $_.ToString() })\n"
		"\t$last = $words.Count\n"
		"\tif ($wordToComplete -ne '') { $last = $words.Count - 1 }\n"
		"\t$cmd = ''; $sub = ''; $prev = ''\n"
		"\tfor ($i = 1; $i -lt $last; $i++) {\n"
		"\t\t$w = $words[$i]\n"
		"\t\tif ($w.StartsWith('-')) {\n"
		"\t\t\tif ($values.ContainsKey(\"$cmd $w\") -or $values.ContainsKey(\"* $w\")) { $i++ }\n"
		"\t\t\tcontinue\n"
		"\t\t}\n"
		"\t\tif ($cmd -eq '') { $cmd = $w } elseif ($sub -eq '') { $sub = $w }\n"
		"\t}\n"
		"\tif ($last -gt 1) { $prev = $words[$last - 1] }\n"
		"\t$kind = $null\n"
		"\tif ($values.ContainsKey(\"$cmd $prev\")) { $kind = $values[\"$cmd $prev\"] }\n"
		"\telseif ($values.ContainsKey(\"* $prev\")) { $kind = $values[\"* $prev\"] }\n"
		"\tif ($kind -is [string]) { return }  # a path or free text: PowerShell's own completion\n"
		"\tif ($null -ne $kind) { $cands = $kind }\n"
		"\telseif ($wordToComplete.StartsWith('-')) { $cands = $opts[$cmd] }\n"
		"\telseif ($cmd -eq '') { $cands = @($commands.Keys) }\n"
		"\telseif ($sub -eq '' -and $subs.ContainsKey($cmd)) { $cands = $subs[$cmd] }\n"
		"\telse { return }\n"
		"\t$cands | Where-Object { $_ -like \"$wordToComplete*\" } | ForEach-Object {\n"
		"\t\t[System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)\n"
		"\t}\n"
		"}\n");
}

/* ---- man page ---- */

/* One line of text for roff: backslashes and minus signs escaped, a leading . or ' kept as text. */
static void roff_text(struct kf_buf *b, const char *s, size_t len)
{
	if (len && (s[0] == '.' || s[0] == '\''))
		kf_buf_puts(b, "\\&");
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\')
			kf_buf_puts(b, "\\e");
		else if (s[i] == '-')
			kf_buf_puts(b, "\\-");
		else
			kf_buf_putc(b, s[i]);
	}
	kf_buf_putc(b, '\n');
}

/* A help paragraph as filled text, keeping the author's line breaks where a line is a list item
 * ("start:  starts..." after a sentence's end, or "- ...") and paragraphs at blank lines; an
 * indented line continues the item above it. */
static void roff_para(struct kf_buf *b, const char *s)
{
	char last = '.'; /* the last character of the line before */

	while (s && *s) {
		const char *e = strchr(s, '\n');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		const char *w = s;

		if (len == 0) {
			kf_buf_puts(b, ".PP\n");
		} else {
			while (w < s + len && (islower((unsigned char)*w) || *w == '-'))
				w++;
			if (s[0] == '-' ||
			    (w > s && w < s + len && *w == ':' && (last == '.' || last == ':')))
				kf_buf_puts(b, ".br\n");
			last = s[len - 1];
			while (len && *s == ' ') {
				s++;
				len--;
			}
			roff_text(b, s, len);
		}
		s += len;
		if (*s == '\n')
			s++;
	}
}

/* A word inside a line: backslashes and minus signs escaped. */
static void roff_word(struct kf_buf *b, const char *s)
{
	for (; *s; s++)
		kf_buf_puts(b, *s == '\\' ? "\\e" : *s == '-' ? "\\-" : (char[]){ *s, 0 });
}

static void roff_opts(struct kf_buf *b, const struct kf_opt *opts)
{
	for (const struct kf_opt *o = opts; o && o->type != KF_OPT_END; o++) {
		kf_buf_puts(b, ".TP\n");
		if (o->short_name)
			kf_buf_printf(b, "\\fB\\-%c\\fR%s", o->short_name, o->long_name ? ", " : "");
		if (o->long_name) {
			kf_buf_puts(b, "\\fB\\-\\-");
			roff_word(b, o->long_name);
			kf_buf_puts(b, "\\fR");
		}
		if (o->argname) {
			kf_buf_puts(b, " \\fI");
			roff_word(b, o->argname);
			kf_buf_puts(b, "\\fR");
		}
		kf_buf_putc(b, '\n');
		roff_para(b, o->help ? o->help : "");
	}
}

static void gen_man(struct kf_buf *b)
{
	kf_buf_puts(b,
		".\\\" Generated by `k3sforge __man` from the command table; do not edit.\n"
		".TH K3SFORGE 1 \"\" \"k3sforge " KF_VERSION "\" \"User Commands\"\n"
		".SH NAME\n"
		"k3sforge \\- an air\\-gapped k3s lab on VMware Workstation, in one command\n"
		".SH SYNOPSIS\n"
		".B k3sforge\n"
		"[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR]\n"
		".br\n"
		".B k3sforge\n"
		"\\-c \\fIlab.yaml\\fR up\n"
		".SH DESCRIPTION\n"
		"k3sforge builds a k3s cluster of one master and N workers on VMware Workstation\n"
		"(Windows with WSL2, or Linux) without Internet access for the guests: a local TLS\n"
		"registry with every image mirrored, unattended Ubuntu installs from a remastered ISO,\n"
		"and a kubeconfig for kubectl.\n"
		".B up\n"
		"runs the stages in order (");
	for (int i = 0; kf_up_stages[i]; i++)
		kf_buf_printf(b, "%s%s", i ? ", " : "", kf_up_stages[i]->name);
	kf_buf_puts(b,
		"), skips those whose inputs and outputs are unchanged and resumes at the first stale\n"
		"or failed one; each stage is also a command of its own.\n"
		"Global options may also follow the command.\n"
		".SH GLOBAL OPTIONS\n");
	roff_opts(b, kf_cmd_globals);
	kf_buf_puts(b, ".SH COMMANDS\n");
	for (int i = 0; kf_cmd_table[i]; i++) {
		const struct kf_cmd *c = kf_cmd_table[i];
		if (!visible(c))
			continue;
		kf_buf_printf(b, ".SS %s\n", c->name);
		roff_para(b, c->summary);
		kf_buf_puts(b, ".PP\n.B Usage:\n");
		roff_text(b, c->usage ? c->usage : c->name, strlen(c->usage ? c->usage : c->name));
		if (c->description) {
			kf_buf_puts(b, ".PP\n");
			roff_para(b, c->description);
		}
		if (c->opts && c->opts->type != KF_OPT_END) {
			kf_buf_puts(b, ".PP\nOptions:\n.RS\n");
			roff_opts(b, c->opts);
			kf_buf_puts(b, ".RE\n");
		}
		if (c->example) {
			const char *s = c->example;
			kf_buf_puts(b, ".PP\nExample:\n.RS\n.nf\n");
			while (*s) {
				const char *e = strchr(s, '\n');
				size_t len = e ? (size_t)(e - s) : strlen(s);
				roff_text(b, s, len);
				s += len + (e ? 1 : 0);
			}
			kf_buf_puts(b, ".fi\n.RE\n");
		}
	}
	kf_buf_puts(b, ".SS help\nShow help for a command: \\fBk3sforge help\\fR \\fIcommand\\fR\n"
		       "(the same as \\fBk3sforge\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR).\n"
		       ".SH EXIT STATUS\n"
		       ".TP\n0\nsuccess\n.TP\n1\nfailure (the message says what and what to do)\n"
		       ".TP\n2\nusage error\n.TP\n3\nconfiguration error\n"
		       ".TP\n4\nthe output directory is locked by another run\n"
		       ".TP\n5\ntimed out\n.TP\n130\ninterrupted\n"
		       ".SH ENVIRONMENT\n.TP\nNO_COLOR\nno colour, as \\fB\\-\\-no\\-color\\fR\n"
		       ".SH FILES\n.TP\n\\&./k3sforge.yaml\nthe configuration when \\fB\\-c\\fR is not given\n"
		       ".TP\n\\&./k3sforge\\-out/\nthe output directory when \\fB\\-o\\fR is not given: "
		       "state.json, the log file, pki/, ssh/, iso/, registry/\n"
		       ".SH SEE ALSO\n"
		       "\\fBkubectl\\fR(1), \\fBvmrun\\fR; the documents in /usr/share/doc/k3sforge/ "
		       "(cli.md, exit\\-codes.md, configuration.md); shell completions: "
		       "\\fBk3sforge completion\\fR \\fIbash\\fR|\\fIzsh\\fR|\\fIfish\\fR|\\fIpowershell\\fR\n");
}

static int write_out(struct kf_ctx *ctx, struct kf_buf *b)
{
	const char *s = kf_buf_str(b);
	int bad;

	if (!s) {
		kf_buf_free(b);
		return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	}
	bad = fputs(s, stdout) == EOF;
	bad = fflush(stdout) != 0 || bad;
	kf_buf_free(b);
	if (bad)
		return kf_err_set(&ctx->err, KF_EIO, "cannot write to standard output");
	return 0;
}

static const struct kf_opt completion_opts[] = {
	KF_OPT_END_,
};

static int completion_run(struct kf_ctx *ctx, int argc, char **argv)
{
	static const char *const shells[] = { "bash", "zsh", "fish", "powershell" };
	struct kf_buf b;
	int npos = 0, r;

	if ((r = kf_cmd_parse(ctx, &kf_cmd_completion, argc, argv, &npos)) != 0)
		return r;
	if (npos != 1) {
		return kf_err_set(&ctx->err, KF_EUSAGE, "completion needs one shell: bash, zsh, fish "
				  "or powershell%s", npos > 1 ? " (more than one given)" : "");
	}
	if (!kf_cmd_table || !kf_cmd_globals)
		return kf_err_set(&ctx->err, KF_EFAIL, "completion: no command table");
	kf_buf_init(&b, 0);
	if (strcmp(argv[1], "bash") == 0)
		gen_bash(&b);
	else if (strcmp(argv[1], "zsh") == 0)
		gen_zsh(&b);
	else if (strcmp(argv[1], "fish") == 0)
		gen_fish(&b);
	else if (strcmp(argv[1], "powershell") == 0 || strcmp(argv[1], "pwsh") == 0)
		gen_powershell(&b);
	else {
		const char *best = kf_closest(argv[1], shells, 4);
		kf_buf_free(&b);
		return kf_err_set(&ctx->err, KF_EUSAGE, "completion: unknown shell '%s'%s%s%s "
				  "(bash, zsh, fish or powershell)", argv[1],
				  best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
	}
	return write_out(ctx, &b);
}

static int man_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_buf b;
	int r;

	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_man, argc, argv)) != 0)
		return r;
	if (!kf_cmd_table || !kf_cmd_globals)
		return kf_err_set(&ctx->err, KF_EFAIL, "__man: no command table");
	kf_buf_init(&b, 0);
	gen_man(&b);
	return write_out(ctx, &b);
}

const struct kf_cmd kf_cmd_completion = {
	.name = "completion",
	.summary = "print the shell completion script for bash, zsh, fish or powershell",
	.usage = "k3sforge completion bash|zsh|fish|powershell",
	.description =
		"Prints a completion script generated from the same command table and options as\n"
		"--help: commands, subcommands, options, the stage names for up --from, file and\n"
		"directory arguments, and (bash, zsh, fish) the node names of the configuration for\n"
		"render --node, read with `k3sforge config show`. The package installs the bash,\n"
		"zsh and fish scripts where those shells look for them.",
	.example = "source <(k3sforge completion bash)             # this bash session\n"
		   "k3sforge completion fish > ~/.config/fish/completions/k3sforge.fish\n"
		   "k3sforge completion powershell | Out-String | Invoke-Expression",
	.opts = completion_opts,
	.run = completion_run,
};

const struct kf_cmd kf_cmd_man = {
	.name = "__man",
	.summary = "print the man page (roff), generated at build time",
	.usage = "k3sforge __man",
	.opts = completion_opts,
	.run = man_run,
	.hidden = true,
};
