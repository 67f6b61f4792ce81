/* Snapshots of a QEMU VM, in its qcow2 disk. A running VM gets live snapshots (disk and RAM:
 * QMP snapshot-save/-load/-delete, which run as jobs, QEMU 6.0+); a VM that is off gets
 * disk-only snapshots with `qemu-img snapshot`. Revert brings back the power state the
 * snapshot was taken in, as VMware's revert does: a live snapshot leaves the VM running (a VM
 * that is off is started from it with -loadvm), a disk-only one leaves it off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/platform.h"
#include "qemu_internal.h"

#define DISK_NODE "disk0"         /* the block node name kf_qemu_argv gives the disk */

/* One snapshot as the disk holds it. */
struct snap {
	char *name;
	long long vmstate;         /* bytes of saved RAM; 0 = disk only */
};

static void snaps_free(struct snap *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].name);
	free(s);
}

/* Reads a "snapshots" array (qemu-img info's and query-named-block-nodes' image info share
 * the SnapshotInfo shape: name, vm-state-size; qapi/block-core.json). */
static int snaps_from_json(const json_t *arr, struct snap **out, size_t *n, struct kf_err *err)
{
	size_t cnt = json_is_array(arr) ? json_array_size(arr) : 0;
	struct snap *s;

	*out = NULL;
	*n = 0;
	if (cnt > 10000)
		return kf_err_set(err, KF_ELIMIT, "more than 10000 snapshots");
	if (!(s = calloc(cnt ? cnt : 1, sizeof(*s))))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (size_t i = 0; i < cnt; i++) {
		const json_t *e = json_array_get(arr, i);
		const char *nm = json_string_value(json_object_get(e, "name"));
		if (!nm || !(s[*n].name = strdup(nm)))
			continue;
		s[*n].vmstate = json_integer_value(json_object_get(e, "vm-state-size"));
		(*n)++;
	}
	*out = s;
	return 0;
}

static char *disk_path(const struct kf_hv_qemu *q, const char *node, struct kf_err *err)
{
	struct kf_qemu_def d;
	char *folder, *p = NULL;

	if (kf_qemu_def_load(q, node, &d, err) != 0)
		return NULL;
	folder = kf_qemu_folder(q, node);
	if (folder)
		p = kf_path_join(folder, d.disk);
	if (!p)
		kf_err_set(err, KF_ENOMEM, "out of memory");
	free(folder);
	kf_qemu_def_free(&d);
	return p;
}

static int list_offline(const struct kf_hv_qemu *q, const char *node, struct snap **s,
			size_t *n, struct kf_err *err)
{
	char *disk = disk_path(q, node, err), *out = NULL;
	json_t *j;
	int r;

	if (!disk)
		return err->code ? err->code : KF_ENOMEM;
	const char *args[] = { "info", "--output=json", disk, NULL };
	r = kf_qemu_img(q, args, &out, err);
	free(disk);
	if (r)
		return kf_err_wrap(err, "%s", node);
	j = json_loads(out, 0, NULL);
	free(out);
	r = j ? snaps_from_json(json_object_get(j, "snapshots"), s, n, err)
	      : kf_err_set(err, KF_EPARSE, "%s: qemu-img info gave no JSON", node);
	json_decref(j);
	return r;
}

static int list_live(const struct kf_hv_qemu *q, const char *node, struct snap **s, size_t *n,
		     struct kf_err *err)
{
	struct kf_qmp *m = NULL;
	json_t *nodes = NULL;
	size_t i;
	int r;

	if ((r = kf_qemu_qmp(q, node, &m, err)) != 0)
		return r;
	r = kf_qmp_exec(m, "query-named-block-nodes", json_pack("{s:b}", "flat", 1), &nodes, err);
	kf_qmp_close(m);
	if (r)
		return kf_err_wrap(err, "%s", node);
	for (i = 0; i < json_array_size(nodes); i++) {
		const json_t *bn = json_array_get(nodes, i);
		const char *nm = json_string_value(json_object_get(bn, "node-name"));
		if (nm && strcmp(nm, DISK_NODE) == 0) {
			r = snaps_from_json(json_object_get(json_object_get(bn, "image"), "snapshots"),
					    s, n, err);
			break;
		}
	}
	if (i == json_array_size(nodes))
		r = kf_err_set(err, KF_EPARSE, "%s: QEMU has no block node '%s'", node, DISK_NODE);
	json_decref(nodes);
	return r;
}

static int list(const struct kf_hv_qemu *q, const char *node, bool *live, struct snap **s,
		size_t *n, struct kf_err *err)
{
	*live = kf_qemu_pid(q, node) > 0;
	return *live ? list_live(q, node, s, n, err) : list_offline(q, node, s, n, err);
}

/* Runs a snapshot job and waits, bounded, for it to conclude; then dismisses it. The job's
 * own error (query-jobs "error", qapi/job.json JobInfo) is the failure. */
static int run_job(const struct kf_hv_qemu *q, const char *node, const char *command,
		   json_t *args, const char *job_id, struct kf_err *err)
{
	struct kf_qmp *m = NULL;
	double end = kf_now_mono() + (q->cmd_timeout_ms / 1000.0) * 4;
	int r;

	if ((r = kf_qemu_qmp(q, node, &m, err)) != 0) {
		json_decref(args);
		return r;
	}
	if ((r = kf_qmp_exec(m, command, args, NULL, err)) != 0)
		goto out;
	for (;;) {
		json_t *jobs = NULL;
		const char *status = NULL, *jerr = NULL;
		char *msg = NULL;

		if ((r = kf_qmp_exec(m, "query-jobs", NULL, &jobs, err)) != 0)
			goto out;
		for (size_t i = 0; i < json_array_size(jobs); i++) {
			const json_t *j = json_array_get(jobs, i);
			const char *id = json_string_value(json_object_get(j, "id"));
			if (id && strcmp(id, job_id) == 0) {
				status = json_string_value(json_object_get(j, "status"));
				jerr = json_string_value(json_object_get(j, "error"));
				if (jerr)
					msg = strdup(jerr);
				break;
			}
		}
		bool done = status && strcmp(status, "concluded") == 0;
		bool gone = !status;
		json_decref(jobs);
		if (done) {
			kf_qmp_exec(m, "job-dismiss", json_pack("{s:s}", "id", job_id), NULL, NULL);
			if (msg)
				r = kf_err_set(err, KF_EFAIL, "%s: %s failed: %s", node, command, msg);
			free(msg);
			goto out;
		}
		free(msg);
		if (gone) {
			r = kf_err_set(err, KF_EFAIL, "%s: %s job %s vanished", node, command, job_id);
			goto out;
		}
		if (kf_interrupted()) {
			r = kf_err_set(err, KF_EINTR, "interrupted");
			goto out;
		}
		if (kf_now_mono() > end) {
			r = kf_err_set(err, KF_ETIMEOUT, "%s: %s did not finish in %.0f s", node,
				       command, (q->cmd_timeout_ms / 1000.0) * 4);
			goto out;
		}
		kf_sleep_ms(200);
	}
out:
	kf_qmp_close(m);
	return r;
}

static json_t *job_args(const char *job_id, const char *name, bool vmstate)
{
	json_t *a = json_pack("{s:s, s:s, s:[s]}", "job-id", job_id, "tag", name, "devices",
			      DISK_NODE);

	if (a && vmstate)
		json_object_set_new(a, "vmstate", json_string(DISK_NODE));
	return a;
}

static const struct snap *find(const struct snap *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return &s[i];
	return NULL;
}

int kf_qemu_snapshot_list(struct kf_hv *hv, const char *node, char ***names, size_t *n,
			  struct kf_err *err)
{
	struct snap *s = NULL;
	size_t cnt = 0;
	bool live;
	int r;

	*names = NULL;
	*n = 0;
	if ((r = list(KF_QEMU(hv), node, &live, &s, &cnt, err)) != 0)
		return r;
	if (!(*names = calloc(cnt ? cnt : 1, sizeof(char *)))) {
		snaps_free(s, cnt);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < cnt; i++) {
		(*names)[i] = s[i].name;
		s[i].name = NULL;
	}
	*n = cnt;
	snaps_free(s, cnt);
	return 0;
}

int kf_qemu_snapshot_create(struct kf_hv *hv, const char *node, const char *name,
			    struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	struct snap *s = NULL;
	size_t n = 0;
	bool live;
	int r;

	if ((r = list(q, node, &live, &s, &n, err)) != 0)
		return r;
	if (find(s, n, name)) {
		snaps_free(s, n);
		return kf_err_set(err, KF_EEXIST, "%s already has a snapshot '%s'", node, name);
	}
	snaps_free(s, n);
	if (live)
		return run_job(q, node, "snapshot-save", job_args("kf-save", name, true), "kf-save",
			       err);
	char *disk = disk_path(q, node, err);
	if (!disk)
		return err->code ? err->code : KF_ENOMEM;
	const char *args[] = { "snapshot", "-c", name, disk, NULL };
	r = kf_qemu_img(q, args, NULL, err);
	free(disk);
	return r ? kf_err_wrap(err, "%s", node) : 0;
}

int kf_qemu_snapshot_revert(struct kf_hv *hv, const char *node, const char *name,
			    struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	const struct snap *sn;
	struct snap *s = NULL;
	size_t n = 0;
	bool live, with_ram;
	char *disk;
	int r;

	if ((r = list(q, node, &live, &s, &n, err)) != 0)
		return r;
	if (!(sn = find(s, n, name))) {
		snaps_free(s, n);
		return kf_err_set(err, KF_ENOTFOUND, "%s has no snapshot '%s'", node, name);
	}
	with_ram = sn->vmstate > 0;
	snaps_free(s, n);
	if (with_ram && live) {
		r = run_job(q, node, "snapshot-load", job_args("kf-load", name, true), "kf-load",
			    err);
		if (r == 0) {
			/* snapshot-load resumes only a VM that was running before it (migration/
			 * savevm.c snapshot_load_job_bh); a paused one is continued here */
			struct kf_qmp *m = NULL;
			if (kf_qemu_qmp(q, node, &m, NULL) == 0) {
				kf_qmp_exec(m, "cont", NULL, NULL, NULL);
				kf_qmp_close(m);
			}
		}
		return r;
	}
	if (with_ram)
		return kf_qemu_start_from(q, node, name, err);
	/* disk only: the VM was off when it was taken, and is off after */
	if (live && (r = kf_qemu_stop_hard(q, node, err)) != 0)
		return r;
	if (!(disk = disk_path(q, node, err)))
		return err->code ? err->code : KF_ENOMEM;
	const char *args[] = { "snapshot", "-a", name, disk, NULL };
	r = kf_qemu_img(q, args, NULL, err);
	free(disk);
	return r ? kf_err_wrap(err, "%s", node) : 0;
}

int kf_qemu_snapshot_delete(struct kf_hv *hv, const char *node, const char *name,
			    struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	struct snap *s = NULL;
	size_t n = 0;
	bool live, have;
	char *disk;
	int r;

	if ((r = list(q, node, &live, &s, &n, err)) != 0)
		return r;
	have = find(s, n, name) != NULL;
	snaps_free(s, n);
	if (!have)
		return kf_err_set(err, KF_ENOTFOUND, "%s has no snapshot '%s'", node, name);
	if (live)
		return run_job(q, node, "snapshot-delete", job_args("kf-delete", name, false),
			       "kf-delete", err);
	if (!(disk = disk_path(q, node, err)))
		return err->code ? err->code : KF_ENOMEM;
	const char *args[] = { "snapshot", "-d", name, disk, NULL };
	r = kf_qemu_img(q, args, NULL, err);
	free(disk);
	return r ? kf_err_wrap(err, "%s", node) : 0;
}
