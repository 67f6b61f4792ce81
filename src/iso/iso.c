/* ISO images through libisoburn's xorriso API: one xorriso object per image, commands run one
 * at a time with xorriso's own problem evaluation, its messages caught by a watcher thread
 * (debug log, the last error for our message, the write progress). The remaster loads the
 * Ubuntu image, checks its shape, edits GRUB, adds the payload and replays the boot
 * equipment; the write goes into a private temporary directory next to dst and is renamed.
 *
 * Threads: libisoburn's watcher (Xorriso_start_msg_watcher, a detached thread) calls on_result
 * and on_info with our struct xr while our thread runs commands. Everything those handlers
 * touch is under xr.mu; after each command xr_cmd makes sure all of it reached the handlers
 * (xr_drain: a batch the watcher holds, then the rest fetched on our thread) before reading
 * results or last_problem; xr_close stops the watcher before the struct (on the caller's
 * stack) goes. */
#include "k3sforge/iso.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xorriso.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/progress.h"

#define XR_MAX_ARGS 16
#define CFG_MAX ((size_t)1024 * 1024)
#define MD5SUMS_MAX ((size_t)8 * 1024 * 1024)
/* How long handing over one command's messages may take (normally well under a millisecond
 * here, up to the watcher's 25 ms nap when it has a batch); past this something is wrong, and
 * going on would read an incomplete result. */
#define XR_DRAIN_S 60
/* libisoburn 1.5.4 announces the watcher's start and end through our info handler, but with
 * its own struct XorrisO as the handle instead of ours (xorriso/text_io.c, Xorriso_msg_watcher:
 * "(*xorriso->msgw_info_handler)(xorriso, ...)"): such a line must not be taken for a struct xr. */
#define XR_WATCHER_NOTE "xorriso : DEBUG : Concurrent message watcher "

struct xr {
	struct XorrisO *x;
	bool watching;
	bool lost;                /* a command's messages were not collected: results unknown */
	pthread_mutex_t mu;       /* guards the fields below: the watcher's handlers write them */
	char last_problem[600];   /* last SORRY/FAILURE/FATAL line */
	struct kf_buf results;    /* result channel (e.g. -lsdi) of the current command */
	struct kf_progress *progress;
	uint64_t progress_total;  /* bytes of the image being written (estimated: the source) */
};

/* ---- the xorriso session ---------------------------------------------------------------- */

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static int on_result(void *handle, char *text)
{
	struct xr *s = handle;

	pthread_mutex_lock(&s->mu);
	kf_buf_puts(&s->results, text);
	pthread_mutex_unlock(&s->mu);
	return 1;
}

static int on_info(void *handle, char *text)
{
	struct xr *s = handle;
	char line[600];
	const char *pct;

	snprintf(line, sizeof(line), "%s", text);
	chomp(line);
	kf_debug("xorriso: %s", line);
	if (strncmp(line, XR_WATCHER_NOTE, strlen(XR_WATCHER_NOTE)) == 0)
		return 1;   /* handle is libisoburn's, not ours */
	if (strstr(line, " : SORRY : ") || strstr(line, " : FAILURE : ") ||
	    strstr(line, " : FATAL : ") || strstr(line, " : ABORT : ")) {
		pthread_mutex_lock(&s->mu);
		snprintf(s->last_problem, sizeof(s->last_problem), "%s", line);
		pthread_mutex_unlock(&s->mu);
	}
	/* "xorriso : UPDATE : Writing:  24576s    7.9%   fifo 100% ..." (or "..% done") */
	pct = strchr(line, '%');
	if (pct && strstr(line, "UPDATE") && (strstr(line, "Writing:") || strstr(line, "% done"))) {
		const char *b = pct;
		while (b > line && (b[-1] == '.' || (b[-1] >= '0' && b[-1] <= '9')))
			b--;
		/* under mu: kf_iso_remaster takes the progress object away under it before freeing */
		pthread_mutex_lock(&s->mu);
		if (b < pct && s->progress)
			kf_progress_update(s->progress,
					   (uint64_t)(strtod(b, NULL) / 100.0 * (double)s->progress_total),
					   0);
		pthread_mutex_unlock(&s->mu);
	}
	return 1;
}

static int xr_open(struct xr *s, struct kf_err *err)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	kf_buf_init(&s->results, 4 * 1024 * 1024);
	if (Xorriso_new(&s->x, "xorriso", 0) <= 0) {
		s->x = NULL;
		return kf_err_set(err, KF_ENOMEM, "libisoburn: cannot create a xorriso object");
	}
	if (Xorriso_startup_libraries(s->x, 0) <= 0)
		return kf_err_set(err, KF_EFAIL, "libisoburn: cannot start libburn/libisofs");
	/* xorriso.h:1103-1137: redirects both channels and starts a detached thread calling our
	 * handlers; 1 = running, <=0 = not started (nothing to stop then) */
	if (Xorriso_start_msg_watcher(s->x, on_result, s, on_info, s, 0) <= 0)
		return kf_err_set(err, KF_EFAIL, "libisoburn: cannot start the message watcher");
	s->watching = true;
	return 0;
}

/* Xorriso_stop_msg_watcher (xorriso.h:1140-1150) tells the thread to end, waits until it has
 * (libisoburn polls its state, no timeout), then runs our handlers on this thread for what was
 * still queued and unregisters them; 1 = stopped, 0 = no watcher was running (it had ended by
 * itself), <0 = libisoburn's own lock failed and the thread may still be running. Only after
 * 1 or 0 may *s go. */
static void xr_close(struct xr *s)
{
	if (s->x) {
		if (s->watching && Xorriso_stop_msg_watcher(s->x, 0) < 0) {
			/* the watcher may still call on_info with s, which lives on our caller's
			 * stack: going on would let it write into whatever comes next there */
			kf_error("libisoburn: cannot stop the message watcher thread; stopping");
			abort();
		}
		s->watching = false;
		Xorriso_destroy(&s->x, 0);
	}
	/* The thread's last handler call ended before Xorriso_stop_msg_watcher returned, which
	 * libisoburn signals through a plain int; taking mu orders that call (made under mu)
	 * before the frees below for ThreadSanitizer too. */
	pthread_mutex_lock(&s->mu);
	s->progress = NULL;
	pthread_mutex_unlock(&s->mu);
	kf_buf_free(&s->results);
	pthread_mutex_destroy(&s->mu);
}

/* Hands a fetched message list to one of our handlers, in order, and frees it. */
static void xr_hand(struct xr *s, struct Xorriso_lsT **list, int (*handler)(void *, char *))
{
	for (struct Xorriso_lsT *i = *list; i; i = Xorriso_lst_get_next(i, 0))
		handler(s, Xorriso_lst_get_text(i, 0));
	Xorriso_lst_destroy_all(list, 0);
}

/* Makes sure everything xorriso printed so far reached our handlers. Xorriso_peek_outlists
 * (xorriso.h:1053-1077) without waiting returns 0 (nothing pending anywhere), -1
 * (inappropriate stack handle), -2 (libisoburn's lock failed) or bits: bit0 messages in the
 * outlists, bit1 the watcher is running our handlers on messages it fetched. The watcher looks
 * only every 25 ms; waiting for it after each of the thirty-odd commands of a remaster cost
 * most of build-iso's time (issue #20). So: while the watcher hands over a batch, wait for it
 * (its batch is older than anything still pending); once it is idle, fetch what is pending
 * here (Xorriso_fetch_outlists is safe beside the watcher, xorriso.h:1018-1024) and hand it
 * over in order. The command has returned, so nothing newer can arrive meanwhile. Stack handle
 * -1 is the most recent redirection: the watcher's (xorriso pops its own ones before a
 * command returns). */
static int xr_drain(struct xr *s, struct kf_err *err)
{
	double deadline = kf_now_mono() + XR_DRAIN_S;
	struct Xorriso_lsT *results, *info;
	int r;

	for (;;) {
		r = Xorriso_peek_outlists(s->x, -1, 0, 0);
		if (r == 0)
			return 0;
		s->lost = r < 0 || kf_now_mono() >= deadline;
		if (r < 0)
			return kf_err_set(err, KF_EFAIL, "libisoburn: cannot inspect the message "
					  "watcher (%s)", r == -1 ? "no such message redirection"
					  : "its lock failed");
		if (s->lost)
			return kf_err_set(err, KF_ETIMEOUT, "libisoburn: the message watcher did not "
					  "hand over xorriso's messages within %d s", XR_DRAIN_S);
		if (r & 2) {
			kf_sleep_ms(1);
			continue;
		}
		results = info = NULL;
		if (Xorriso_fetch_outlists(s->x, -1, &results, &info, 0) <= 0) {
			s->lost = true;
			return kf_err_set(err, KF_EFAIL, "libisoburn: cannot fetch xorriso's messages");
		}
		xr_hand(s, &results, on_result);
		xr_hand(s, &info, on_info);
	}
}

/* Runs one xorriso command (NULL-terminated arguments after the command name). Returns 0, or
 * KF_EFAIL with `what` and xorriso's last problem message (`strict` also fails on SORRY). When
 * the command's messages could not be collected, s->lost is set and the error says so: nothing
 * is known about the command then, and no further command runs on s. */
static int xr_cmd(struct xr *s, bool strict, struct kf_err *err, const char *what,
		  const char *cmd, ...)
{
	char *argv[XR_MAX_ARGS + 2];
	int argc = 0, idx = 1, ret, ev, r;
	char sev[80] = "";
	va_list ap;
	const char *a;

	argv[argc++] = (char *)"xorriso";
	argv[argc++] = (char *)cmd;
	va_start(ap, cmd);
	while ((a = va_arg(ap, const char *)) != NULL && argc < XR_MAX_ARGS + 1)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	if (s->lost)
		return kf_err_set(err, KF_EFAIL, "%s: not run, an earlier xorriso command's messages "
				  "were not collected", what);
	pthread_mutex_lock(&s->mu);
	s->last_problem[0] = '\0';
	kf_buf_reset(&s->results);
	pthread_mutex_unlock(&s->mu);
	Xorriso_set_problem_status(s->x, (char *)"", 0);
	ret = Xorriso_interpreter(s->x, argc, argv, &idx, 4);
	ev = Xorriso_eval_problem_status(s->x, ret, 0);
	/* results and last_problem are complete only once the watcher handed everything over */
	if ((r = xr_drain(s, err)) != 0)
		return kf_err_wrap(err, "%s", what);
	Xorriso_get_problem_status(s->x, sev, 0);
	if (ret <= 0 || ev < 0 ||
	    (*sev && Xorriso__severity_cmp(sev, (char *)(strict ? "SORRY" : "FAILURE")) >= 0)) {
		char problem[600];
		pthread_mutex_lock(&s->mu);
		snprintf(problem, sizeof(problem), "%s", s->last_problem);
		pthread_mutex_unlock(&s->mu);
		return kf_err_set(err, KF_EFAIL, "%s: %s", what,
				  *problem ? problem : "xorriso reported a failure");
	}
	return 0;
}

/* Does the loaded image hold iso_path? (-lsdi lists it on the result channel, or fails with
 * SORRY.) 0 with *found, or an error when xorriso's answer could not be collected. */
static int xr_exists(struct xr *s, const char *iso_path, bool *found, struct kf_err *err)
{
	char want[1100];
	int r;

	*found = false;
	if ((r = xr_cmd(s, true, err, "lsdi", "-lsdi", iso_path, NULL)) != 0)
		return s->lost ? r : 0;   /* failed: absent, unless the answer was lost */
	snprintf(want, sizeof(want), "'%s'", iso_path);
	pthread_mutex_lock(&s->mu);
	*found = strstr(kf_buf_str(&s->results), want) != NULL;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int xr_load(struct xr *s, const char *path, struct kf_err *err)
{
	int r;

	if (!kf_fs_exists(path))
		return kf_err_set(err, KF_ENOTFOUND, "%s: no such file", path);
	if ((r = xr_cmd(s, false, err, path, "-indev", path, NULL)) != 0) {
		char why[KF_ERR_MSG_MAX];

		if (s->lost)   /* not known to be unreadable: the answer was lost */
			return r;
		snprintf(why, sizeof(why), "%s", err->msg);   /* not err->msg into itself */
		return kf_err_set(err, KF_EPARSE, "%s cannot be read as an ISO image (%s)", path,
				  why);
	}
	return 0;
}

static int check_ubuntu_loaded(struct xr *s, const char *path, struct kf_err *err)
{
	bool casper, info;
	int r;

	if ((r = xr_exists(s, "/casper", &casper, err)) != 0 ||
	    (r = xr_exists(s, "/.disk/info", &info, err)) != 0)
		return r;
	if (!casper || !info)
		return kf_err_set(err, KF_EUNSUPPORTED,
				  "%s is not an Ubuntu live-server ISO (no %s): paths.ubuntu_iso must "
				  "be ubuntu-22.04.5-live-server-amd64.iso",
				  path, !casper && !info ? "/casper and no /.disk/info"
					: !casper ? "/casper" : "/.disk/info");
	return 0;
}

int kf_iso_check_ubuntu(const char *path, struct kf_err *err)
{
	struct xr s;
	int r;

	if ((r = xr_open(&s, err)) == 0 && (r = xr_load(&s, path, err)) == 0)
		r = check_ubuntu_loaded(&s, path, err);
	xr_close(&s);
	return r;
}

/* ---- the remaster ------------------------------------------------------------------------ */

static void md5_hex(const char *data, size_t len, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
	for (unsigned int i = 0; i < n && i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Replaces the md5 of "./<rel>" lines in md5sum.txt text. */
static int md5sums_update(char **text, const char *rel, const char *data)
{
	struct kf_buf b;
	char hex[33], want[300];
	const char *line;

	if (!data || !*text)
		return KF_EFAIL;
	md5_hex(data, strlen(data), hex);
	snprintf(want, sizeof(want), "./%s", rel);
	kf_buf_init(&b, MD5SUMS_MAX);
	for (line = *text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		const char *name = len > 34 ? line + 34 : NULL;
		size_t wl = strlen(want);
		if (name && strncmp(name, want, wl) == 0 && (name[wl] == '\n' || !name[wl])) {
			kf_buf_printf(&b, "%s  %s\n", hex, want);
		} else if (kf_buf_append(&b, line, len)) {
			kf_buf_free(&b);
			return KF_ELIMIT;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(*text);
	*text = kf_buf_detach(&b);
	return *text ? 0 : KF_ENOMEM;
}

/* Extracts iso_path to work/name, edits it, writes work/name.new; *edited holds the text. */
static int edit_grub_file(struct xr *s, const char *work, const char *iso_path, const char *name,
			  const char *tpl_dir, char **edited, char **new_path, struct kf_err *err)
{
	char *orig = kf_path_join(work, name), *text = NULL;
	char newname[128];
	int r;

	*edited = NULL;
	*new_path = NULL;
	snprintf(newname, sizeof(newname), "%s.new", name);
	if (!orig)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	unlink(orig);
	if ((r = xr_cmd(s, true, err, iso_path, "-extract", iso_path, orig, NULL)) != 0)
		goto out;
	if ((r = kf_fs_read(&text, NULL, orig, CFG_MAX, err)) != 0)
		goto out;
	if ((r = kf_iso_grub_edit(edited, text, iso_path, tpl_dir, err)) != 0)
		goto out;
	*new_path = kf_path_join(work, newname);
	if (!*new_path) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	r = kf_fs_write_atomic(*new_path, *edited, strlen(*edited), 0644, err);
out:
	free(text);
	free(orig);
	return r;
}

/* Logs what /.disk/info says the source is; warns when it is not a 22.04 server image, for
 * which the recipe (subiquity 22.04's autoinstall) is made. */
static int describe_source(struct xr *s, const char *src, const char *work, struct kf_err *err)
{
	char *path = kf_path_join(work, "disk-info"), *info = NULL;
	int r;

	if (!path)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	unlink(path);
	if ((r = xr_cmd(s, true, err, "/.disk/info", "-extract", "/.disk/info", path, NULL)) == 0 &&
	    (r = kf_fs_read(&info, NULL, path, 4096, err)) == 0) {
		info[strcspn(info, "\r\n")] = '\0';
		if (strncmp(info, "Ubuntu-Server 22.04", 19) == 0)
			kf_info("installer source: %s", info);
		else
			kf_warn("%s is '%s', not an Ubuntu-Server 22.04 image: the autoinstall recipe "
				"is made for 22.04's installer", src, info);
	}
	free(info);
	free(path);
	return r;
}

/* The image is written into a fresh private directory next to dst (mkdtemp: unpredictable,
 * 0700), never to a guessable name a symlink could have been planted at, and renamed into place
 * only when complete. */
static int private_out(const char *dst, char **dir, char **file, struct kf_err *err)
{
	const char *base = strrchr(dst, '/');

	base = base ? base + 1 : dst;
	*file = NULL;
	if (asprintf(dir, "%s.tmp.XXXXXX", dst) < 0) {
		*dir = NULL;
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	if (!mkdtemp(*dir)) {
		int e = errno;
		free(*dir);
		*dir = NULL;
		return kf_err_set(err, KF_EIO, "cannot create a temporary directory next to %s: %s",
				  dst, strerror(e));
	}
	if (asprintf(file, "%s/%s", *dir, base) < 0) {
		*file = NULL;
		rmdir(*dir);
		free(*dir);
		*dir = NULL;
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	return 0;
}

/* Removes what private_out made (the file only when still there: renamed on success). */
static void private_out_free(char *dir, char *file)
{
	if (file)
		unlink(file);
	if (dir)
		rmdir(dir);
	free(file);
	free(dir);
}

int kf_iso_remaster(const struct kf_iso_remaster *spec, struct kf_err *err)
{
	struct xr s;
	char *tmpdir = NULL, *tmp = NULL, *grub = NULL, *grub_new = NULL, *loop = NULL;
	char *loop_new = NULL;
	char *sums = NULL, *sums_path = NULL, *sums_new = NULL;
	char what[512];
	bool have_grub, have_loop, have_sums;
	struct kf_progress *progress;
	int r;

	if ((r = kf_fs_mkdirs(spec->work_dir, 0700, err)) != 0)
		return r;
	if ((r = xr_open(&s, err)) != 0)
		goto out;
	if ((r = xr_load(&s, spec->src, err)) != 0 ||
	    (r = check_ubuntu_loaded(&s, spec->src, err)) != 0)
		goto out;
	if ((r = xr_exists(&s, "/boot/grub/grub.cfg", &have_grub, err)) != 0)
		goto out;
	if (!have_grub) {
		r = kf_err_set(err, KF_EUNSUPPORTED, "%s has no /boot/grub/grub.cfg: not an Ubuntu "
			       "22.04 live-server ISO", spec->src);
		goto out;
	}
	if ((r = xr_exists(&s, "/boot/grub/loopback.cfg", &have_loop, err)) != 0 ||
	    (r = xr_exists(&s, "/md5sum.txt", &have_sums, err)) != 0)
		goto out;
	if ((r = xr_cmd(&s, true, err, "osirrox", "-osirrox", "on", NULL)) != 0)
		goto out;
	if ((r = describe_source(&s, spec->src, spec->work_dir, err)) != 0)
		goto out;
	if ((r = edit_grub_file(&s, spec->work_dir, "/boot/grub/grub.cfg", "grub.cfg",
				spec->tpl_dir, &grub, &grub_new, err)) != 0)
		goto out;
	if (have_loop && (r = edit_grub_file(&s, spec->work_dir, "/boot/grub/loopback.cfg",
					     "loopback.cfg", spec->tpl_dir, &loop, &loop_new,
					     err)) != 0)
		goto out;
	if (have_sums) {
		sums_path = kf_path_join(spec->work_dir, "md5sum.txt");
		sums_new = kf_path_join(spec->work_dir, "md5sum.txt.new");
		if (!sums_path || !sums_new) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		unlink(sums_path);
		if ((r = xr_cmd(&s, true, err, "/md5sum.txt", "-extract", "/md5sum.txt", sums_path,
				NULL)) != 0 ||
		    (r = kf_fs_read(&sums, NULL, sums_path, MD5SUMS_MAX, err)) != 0)
			goto out;
		if (md5sums_update(&sums, "boot/grub/grub.cfg", grub) ||
		    (loop && md5sums_update(&sums, "boot/grub/loopback.cfg", loop))) {
			r = kf_err_set(err, KF_ELIMIT, "%s: md5sum.txt too large", spec->src);
			goto out;
		}
		if ((r = kf_fs_write_atomic(sums_new, sums, strlen(sums), 0644, err)) != 0)
			goto out;
	}
	if ((r = private_out(spec->dst, &tmpdir, &tmp, err)) != 0)
		goto out;
	/* no fsync from libburn (its default syncs every 16 MiB): the caller makes the image
	 * durable before it records it, off the critical path where it can (flush.h) */
	if ((r = xr_cmd(&s, false, err, "stdio sync", "-stdio_sync", "off", NULL)) != 0 ||
	    (r = xr_cmd(&s, false, err, tmp, "-outdev", tmp, NULL)) != 0 ||
	    (r = xr_cmd(&s, false, err, "grub.cfg", "-map", grub_new, "/boot/grub/grub.cfg",
			NULL)) != 0 ||
	    (loop_new && (r = xr_cmd(&s, false, err, "loopback.cfg", "-map", loop_new,
				     "/boot/grub/loopback.cfg", NULL)) != 0) ||
	    (sums_new && (r = xr_cmd(&s, false, err, "md5sum.txt", "-map", sums_new, "/md5sum.txt",
				     NULL)) != 0))
		goto out;
	for (size_t i = 0; i < spec->n_files; i++) {
		snprintf(what, sizeof(what), "adding %s as %s", spec->files[i].disk_path,
			 spec->files[i].iso_path);
		if ((r = xr_cmd(&s, false, err, what, "-map", spec->files[i].disk_path,
				spec->files[i].iso_path, NULL)) != 0)
			goto out;
	}
	if ((r = xr_cmd(&s, false, err, "replaying the boot equipment", "-boot_image", "any",
			"replay", NULL)) != 0)
		goto out;
	snprintf(what, sizeof(what), "%s", spec->progress_what ? spec->progress_what : spec->dst);
	{
		struct stat st;
		uint64_t total = stat(spec->src, &st) == 0 ? (uint64_t)st.st_size : 0;

		progress = kf_progress_new(what, total, 0);
		pthread_mutex_lock(&s.mu);
		s.progress_total = total;
		s.progress = progress;
		pthread_mutex_unlock(&s.mu);
	}
	r = xr_cmd(&s, false, err, tmp, "-commit", NULL);
	/* taken away under mu: on_info may still be about to use it if xr_cmd failed early */
	pthread_mutex_lock(&s.mu);
	s.progress = NULL;
	pthread_mutex_unlock(&s.mu);
	kf_progress_done(progress, r == 0);
	if (r)
		goto out;
	if (rename(tmp, spec->dst) != 0)
		r = kf_err_set(err, KF_EIO, "rename %s to %s: %s", tmp, spec->dst, strerror(errno));
out:
	xr_close(&s);
	private_out_free(tmpdir, tmp);
	free(grub);
	free(grub_new);
	free(loop);
	free(loop_new);
	free(sums);
	free(sums_path);
	free(sums_new);
	return r;
}
