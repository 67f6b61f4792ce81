/* libFuzzer target for the backup reader and restore (src/ops/backup_read.c,
 * backup_restore.c): any input is a backup archive restored into a directory that does not
 * exist yet. It must restore or be refused with a message, never crash, hang or leak; a refused
 * archive leaves nothing behind (no output dir, no staging dir); a restored one holds only
 * directories 0700 and files 0600 or 0644 (k3sforge's table, whatever the archive's modes), each
 * inside the output dir. Built and run by tests/fuzz/backup.sh. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/backup.h"
#include "k3sforge/err.h"
#include "k3sforge/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char work[64];

/* Counts the files under dir and aborts on anything restore must never leave. */
static size_t check_tree(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t files = 0;

	if (!d || depth > 64)
		abort();
	while ((e = readdir(d)) != NULL) {
		char p[4096];
		struct stat sb;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &sb) != 0)
			abort();
		if (S_ISDIR(sb.st_mode)) {
			if ((sb.st_mode & 07777) != 0700)
				abort();
			files += check_tree(p, depth + 1);
		} else if (S_ISREG(sb.st_mode)) {
			if ((sb.st_mode & 07777) != 0600 && (sb.st_mode & 07777) != 0644)
				abort();
			files++;
		} else {
			abort(); /* a link, device or FIFO */
		}
	}
	closedir(d);
	return files;
}

/* Only the archive itself (and, after a success, the output dir) may be in the work dir. */
static void check_work_dir(bool restored)
{
	DIR *d = opendir(work);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, "a.kfb") != 0 && !(restored && strcmp(e->d_name, "t") == 0))
			abort(); /* a staging directory or a file outside the output dir */
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char archive[128], target[128];
	struct kf_restore_opts ro = { 0 };
	struct kf_restore_stats st = { 0 };
	struct kf_err e;
	FILE *fp;
	int r;

	if (!work[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(work, sizeof(work), "%s/kf-fuzz-backup.XXXXXX", tmp ? tmp : "/tmp");
		if (!mkdtemp(work))
			abort();
	}
	snprintf(archive, sizeof(archive), "%s/a.kfb", work);
	snprintf(target, sizeof(target), "%s/t", work);
	if (!(fp = fopen(archive, "wb")) || fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
		abort();
	ro.out_dir = target;
	kf_err_clear(&e);
	r = kf_restore(archive, &ro, &st, &e);
	if (r != 0) {
		/* refused: a code, a reason, and nothing written */
		if (e.code == 0 || !e.msg[0] || st.config_path || st.images_path)
			abort();
		check_work_dir(false);
	} else {
		if (check_tree(target, 0) != st.files || st.unchanged != 0)
			abort();
		check_work_dir(true);
		kf_restore_stats_free(&st);
		if (kf_fs_remove_tree(target, &e) != 0)
			abort();
	}
	unlink(archive);
	return 0;
}
