/* Findings: what a check looked at, what it found and how to fix it. The one type every host
 * check (VMware, QEMU, the platform's), `doctor` and the reports use; nothing here prints unless
 * asked (kf_findings_log). */
#ifndef K3SFORGE_FINDINGS_H
#define K3SFORGE_FINDINGS_H

#include <jansson.h>
#include <stddef.h>

enum kf_check_status { KF_CHECK_OK = 0, KF_CHECK_INFO, KF_CHECK_WARN, KF_CHECK_FAIL };

struct kf_finding {
	char *id;        /* stable: "vmrun", "vmnet", "memory", "disk", "wsl", ... */
	enum kf_check_status status;
	char *summary;   /* what was found */
	char *fix;       /* what to do (NULL when nothing is needed) */
};

struct kf_findings {
	struct kf_finding *items;
	size_t n;
};

/* Number of findings with status FAIL. */
size_t kf_findings_failed(const struct kf_findings *f);
/* Appends a finding (printf-style summary; fix may be NULL). */
int kf_findings_add(struct kf_findings *f, const char *id, enum kf_check_status st,
		    const char *fix, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* [{"check":id,"status":"ok|info|warn|fail","summary":...,"fix":...}, ...] (new reference). */
json_t *kf_findings_json(const struct kf_findings *f);
/* Logs each finding (ok/info/warn/error level, with its fix). */
void kf_findings_log(const struct kf_findings *f);
const char *kf_check_status_name(enum kf_check_status st);
void kf_findings_free(struct kf_findings *f);

#endif
