/* What the source Ubuntu ISO can do offline, read through libisoburn before anything is built:
 * its release (/.disk/info: the recipe is made for 22.04.5's installer) and the packages its
 * installer can install without a network.
 *
 * Offline, subiquity's only apt source is the ISO itself: `deb [check-date=no] file:///cdrom
 * jammy main restricted` (canonical/subiquity 24.04.1, subiquity/server/apt.py:237-262
 * configure_for_install), and every autoinstall `packages:` entry is fetched up to three times
 * and then fails the whole install (subiquity/server/controllers/install.py:698-720
 * install_package; controllers/package.py: every entry skip_when_offline=False). A package is
 * installable offline when a .deb for it is in the ISO's pool/ (pool/<component>/<x>/<source>/
 * <package>_<version>_<arch>.deb) or when the installed system already has it: the package
 * lists of the squashfs layers the target is made of, casper/<layer>.manifest ("name[:arch]
 * <tab or space> version" per line). The *.installer*.manifest files describe the live
 * installer system, not the target, and do not count.
 *
 * This file keeps its own small xorriso session (no message watcher: each command's output is
 * caught with Xorriso_push_outlists/Xorriso_pull_outlists), beside iso.c's remaster session. */
#include "k3sforge/iso.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xorriso.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"

#define PL_MAX_ARGS 12
#define PL_RESULTS_MAX ((size_t)16 * 1024 * 1024) /* the -find listing of pool/ */
#define PL_MANIFEST_MAX ((size_t)4 * 1024 * 1024)
#define PL_INFO_MAX ((size_t)4096)
#define PL_MAX_MANIFESTS 32
#define PL_RELEASE "Ubuntu-Server 22.04.5"

struct pl {
	struct XorrisO *x;
	char problem[600];    /* the last SORRY/FAILURE line of the last command */
	struct kf_buf results; /* result channel of the last command */
};

/* ---- the session ------------------------------------------------------------------------ */

static int pl_open(struct pl *s, const char *iso, struct kf_err *err);
static void pl_close(struct pl *s);
static int pl_cmd(struct pl *s, struct kf_err *err, const char *what, const char *cmd, ...);

/* ---- parsing (pure) --------------------------------------------------------------------- */

/* The package name of a pool file path ("/pool/main/c/curl/curl_7.81.0-1_amd64.deb" →
 * "curl"), written to name; false for anything else. */
static bool pool_package(const char *path, char *name, size_t size)
{
	const char *base = strrchr(path, '/'), *us;
	size_t len = strlen(path), n;

	base = base ? base + 1 : path;
	if (len < 4 || strcmp(path + len - 4, ".deb") != 0)
		return false;
	us = strchr(base, '_');
	if (!us || us == base)
		return false;
	n = (size_t)(us - base);
	if (n >= size)
		return false;
	memcpy(name, base, n);
	name[n] = '\0';
	return true;
}

/* Appends "\n<name>\n"-delimited names to set (so a lookup is strstr of "\n<name>\n"). */
static int set_add(struct kf_buf *set, const char *name, size_t n)
{
	if (kf_buf_append(set, name, n) || kf_buf_append(set, "\n", 1))
		return KF_ELIMIT;
	return 0;
}

static bool set_has(const struct kf_buf *set, const char *name)
{
	const char *hay = kf_buf_str(set);
	size_t n = strlen(name);

	if (n == 0)
		return false;
	for (const char *p = strstr(hay, name); p; p = strstr(p + 1, name))
		if (p[-1] == '\n' && p[n] == '\n')
			return true;
	return false;
}

/* The names of a manifest's lines ("name[:arch]<ws>version"). */
static int manifest_names(struct kf_buf *set, const char *text)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = strcspn(line, " \t:\r\n");
		if (n && line[0] != '#' && set_add(set, line, n))
			return KF_ELIMIT;
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

/* Is this casper file a package list of the installed system (not of the live installer)? */
static bool target_manifest(const char *path)
{
	size_t len = strlen(path);

	return len > 9 && strcmp(path + len - 9, ".manifest") == 0 && !strstr(path, ".installer");
}

/* Each quoted path ('...') of a -find listing, one per line, in turn. */
static const char *next_listed(const char *p, char *out, size_t size)
{
	while (p && *p) {
		const char *nl = strchr(p, '\n'), *q1 = strchr(p, '\''), *q2;
		size_t n;
		if (!q1 || (nl && q1 > nl)) {
			p = nl ? nl + 1 : NULL;
			continue;
		}
		q2 = strchr(q1 + 1, '\'');
		if (!q2 || (nl && q2 > nl)) {
			p = nl ? nl + 1 : NULL;
			continue;
		}
		n = (size_t)(q2 - q1 - 1);
		p = nl ? nl + 1 : q2 + 1;
		if (n >= size)
			continue;
		memcpy(out, q1 + 1, n);
		out[n] = '\0';
		return p;
	}
	return NULL;
}

/* ---- the checks --------------------------------------------------------------------------- */

/* Extracts iso_path into dir/name and reads it (at most max bytes). */
static int pl_read(struct pl *s, const char *dir, const char *iso_path, const char *name,
		   size_t max, char **text, struct kf_err *err)
{
	char *path = kf_path_join(dir, name);
	int r;

	if (!path)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	unlink(path);
	if ((r = pl_cmd(s, err, iso_path, "-extract", iso_path, path, NULL)) == 0)
		r = kf_fs_read(text, NULL, path, max, err);
	unlink(path);
	free(path);
	return r;
}

static int make_temp_dir(char **out, struct kf_err *err)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	dir = malloc(strlen(tmp) + 32);
	if (!dir)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	sprintf(dir, "%s/k3sforge-iso.XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		free(dir);
		return kf_err_set(err, KF_EIO, "cannot make a temporary directory under %s", tmp);
	}
	*out = dir;
	return 0;
}

int kf_iso_check_release(const char *iso, struct kf_err *err)
{
	struct pl s;
	char *dir = NULL, *info = NULL;
	int r;

	if ((r = make_temp_dir(&dir, err)) != 0)
		return r;
	if ((r = pl_open(&s, iso, err)) == 0 &&
	    (r = pl_read(&s, dir, "/.disk/info", "info", PL_INFO_MAX, &info, err)) == 0) {
		info[strcspn(info, "\r\n")] = '\0';
		if (strncmp(info, PL_RELEASE, strlen(PL_RELEASE)) != 0 ||
		    (info[strlen(PL_RELEASE)] != ' ' && info[strlen(PL_RELEASE)] != '\0'))
			r = kf_err_set(err, KF_EUNSUPPORTED,
				       "%s is '%s', not %s: the autoinstall recipe needs 22.04.5's "
				       "installer (subiquity 24.04.1; older ones such as 22.04.2's "
				       "subiquity 23.02.1 have no apt 'fallback: offline-install', so "
				       "an offline install aborts at the mirror check). Download "
				       "ubuntu-22.04.5-live-server-amd64.iso (releases.ubuntu.com/22.04) "
				       "and point paths.ubuntu_iso at it",
				       iso, info, PL_RELEASE);
	}
	pl_close(&s);
	free(info);
	rmdir(dir);
	free(dir);
	return r;
}

int kf_iso_check_packages(const char *iso, const char *const *names, size_t n,
			  struct kf_err *err)
{
	struct pl s;
	struct kf_buf have, missing;
	char *dir = NULL, *list = NULL, path[1100], name[256];
	const char *p;
	int r, n_manifests = 0, n_missing = 0;

	if (n == 0)
		return 0;
	kf_buf_init(&have, PL_RESULTS_MAX);
	kf_buf_init(&missing, 8192);
	set_add(&have, "", 0); /* the set starts with "\n" */
	if ((r = make_temp_dir(&dir, err)) != 0)
		goto out;
	if ((r = pl_open(&s, iso, err)) != 0)
		goto close;
	/* an ISO without pool/ offers only what its manifests install */
	if (pl_cmd(&s, err, "listing /pool", "-find", "/pool", "-type", "f", "-name", "*.deb",
		   NULL) != 0)
		kf_buf_reset(&s.results);
	kf_err_clear(err);
	for (p = kf_buf_str(&s.results); (p = next_listed(p, path, sizeof(path))) != NULL;)
		if (pool_package(path, name, sizeof(name)) && set_add(&have, name, strlen(name))) {
			r = kf_err_set(err, KF_ELIMIT, "%s: its pool/ listing is too large", iso);
			goto close;
		}
	if ((r = pl_cmd(&s, err, "listing /casper", "-find", "/casper", "-type", "f", "-name",
			"*.manifest", NULL)) != 0)
		goto close;
	list = strdup(kf_buf_str(&s.results));
	if (!list) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto close;
	}
	for (p = list; (p = next_listed(p, path, sizeof(path))) != NULL;) {
		char *text = NULL;
		if (!target_manifest(path))
			continue;
		if (++n_manifests > PL_MAX_MANIFESTS) {
			r = kf_err_set(err, KF_ELIMIT, "%s: more than %d casper manifests", iso,
				       PL_MAX_MANIFESTS);
			goto close;
		}
		if ((r = pl_read(&s, dir, path, "manifest", PL_MANIFEST_MAX, &text, err)) != 0)
			goto close;
		r = manifest_names(&have, text);
		free(text);
		if (r) {
			r = kf_err_set(err, KF_ELIMIT, "%s: its casper manifests are too large", iso);
			goto close;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char want[256];
		snprintf(want, sizeof(want), "%.*s", (int)strcspn(names[i], "=:"), names[i]);
		if (!set_has(&have, want)) {
			kf_buf_printf(&missing, "%s%s", missing.len ? ", " : "", want);
			n_missing++;
		}
	}
	if (missing.len)
		r = kf_err_set(err, KF_ECONFIG,
			       "%s cannot install %s offline: not in its pool/ (the installer's only "
			       "apt source offline is the ISO: main, restricted) nor installed by its "
			       "casper manifests, and the installer tries each package 3 times, then "
			       "fails the whole install. Remove %s from guest.packages, or put the "
			       ".deb files (with the dependencies the installed system lacks) into the "
			       "directory guest.debs names",
			       iso, kf_buf_str(&missing), n_missing > 1 ? "them" : "it");
close:
	pl_close(&s);
out:
	free(list);
	if (dir) {
		rmdir(dir);
		free(dir);
	}
	kf_buf_free(&have);
	kf_buf_free(&missing);
	return r;
}

/* ---- session helpers ---------------------------------------------------------------------- */

static int pl_open(struct pl *s, const char *iso, struct kf_err *err)
{
	int r;

	memset(s, 0, sizeof(*s));
	kf_buf_init(&s->results, PL_RESULTS_MAX);
	if (!kf_fs_exists(iso))
		return kf_err_set(err, KF_ENOTFOUND, "%s: no such file", iso);
	if (Xorriso_new(&s->x, (char *)"xorriso", 0) <= 0) {
		s->x = NULL;
		return kf_err_set(err, KF_ENOMEM, "libisoburn: cannot create a xorriso object");
	}
	if (Xorriso_startup_libraries(s->x, 0) <= 0)
		return kf_err_set(err, KF_EFAIL, "libisoburn: cannot start libburn/libisofs");
	if ((r = pl_cmd(s, err, iso, "-indev", iso, NULL)) != 0)
		return kf_err_set(err, KF_EPARSE, "%s cannot be read as an ISO image (%s)", iso,
				  err->msg);
	return pl_cmd(s, err, "osirrox", "-osirrox", "on", NULL);
}

static void pl_close(struct pl *s)
{
	if (s->x)
		Xorriso_destroy(&s->x, 0);
	kf_buf_free(&s->results);
}

static void take_list(struct Xorriso_lsT **lst, struct kf_buf *into, char *problem, size_t psize)
{
	for (struct Xorriso_lsT *e = *lst; e; e = Xorriso_lst_get_next(e, 0)) {
		const char *t = Xorriso_lst_get_text(e, 0);
		if (!t)
			continue;
		if (into)
			kf_buf_puts(into, t);
		if (problem && (strstr(t, " : SORRY : ") || strstr(t, " : FAILURE : ") ||
				strstr(t, " : FATAL : "))) {
			snprintf(problem, psize, "%s", t);
			problem[strcspn(problem, "\r\n")] = '\0';
		}
	}
	Xorriso_lst_destroy_all(lst, 0);
}

/* Runs one xorriso command with its output caught; 0, or KF_EFAIL naming `what` and xorriso's
 * last problem. SORRY and worse fail. */
static int pl_cmd(struct pl *s, struct kf_err *err, const char *what, const char *cmd, ...)
{
	char *argv[PL_MAX_ARGS + 2], sev[80] = "";
	struct Xorriso_lsT *res = NULL, *info = NULL;
	int argc = 0, idx = 1, ret, ev, handle = -1;
	va_list ap;
	const char *a;

	argv[argc++] = (char *)"xorriso";
	argv[argc++] = (char *)cmd;
	va_start(ap, cmd);
	while ((a = va_arg(ap, const char *)) != NULL && argc < PL_MAX_ARGS + 1)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	s->problem[0] = '\0';
	kf_buf_reset(&s->results);
	if (Xorriso_push_outlists(s->x, &handle, 3) <= 0)
		return kf_err_set(err, KF_EFAIL, "%s: libisoburn: cannot catch xorriso's output",
				  what);
	Xorriso_set_problem_status(s->x, (char *)"", 0);
	ret = Xorriso_interpreter(s->x, argc, argv, &idx, 4);
	ev = Xorriso_eval_problem_status(s->x, ret, 0);
	Xorriso_get_problem_status(s->x, sev, 0);
	if (Xorriso_pull_outlists(s->x, handle, &res, &info, 0) > 0) {
		take_list(&res, &s->results, NULL, 0);
		take_list(&info, NULL, s->problem, sizeof(s->problem));
	}
	if (ret <= 0 || ev < 0 || (*sev && Xorriso__severity_cmp(sev, (char *)"SORRY") >= 0))
		return kf_err_set(err, KF_EFAIL, "%s: %s", what,
				  *s->problem ? s->problem : "xorriso reported a failure");
	return 0;
}
