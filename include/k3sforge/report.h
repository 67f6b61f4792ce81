/* What the user is shown and asked, for every layer: findings and configuration problems as
 * typed JSON events with --json (host_check, config_problem; docs/events.md), text otherwise,
 * and the one [y/N] confirmation. Modules return findings; the caller decides to report them. */
#ifndef K3SFORGE_REPORT_H
#define K3SFORGE_REPORT_H

#include <stdbool.h>

#include "k3sforge/err.h"
#include "k3sforge/findings.h"

/* Reports host/node check findings: with --json one `host_check` event each (scope: what ran
 * the checks, "doctor", "up" or "create-vms"); otherwise, when they are the command's result
 * (doctor), lines on stdout, else log lines on stderr (the checks before create-vms). */
void kf_report_findings(const struct kf_findings *f, const char *scope, bool as_data);
/* Reports one configuration problem ("file:line:col: message"): a `config_problem` event with
 * file, line, col and problem with --json, an error line otherwise. */
void kf_report_config_problem(const char *msg);

/* The one confirmation before something that cannot be undone (create-vms replacing VMs, up,
 * snapshot revert): 0 when `yes` (the command's --yes) or the answer to "<prompt> [y/N] " on the
 * terminal starts with y/Y; off a terminal (stdin not a tty) it does not ask and fails with
 * KF_ESTATE and `offtty` (which names --yes); any other answer fails with `refused`. */
int kf_confirm(bool yes, const char *prompt, const char *offtty, const char *refused,
	       struct kf_err *err);

#endif
