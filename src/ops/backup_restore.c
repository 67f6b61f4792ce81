/* The verified restore of a backup archive (include/k3sforge/backup.h, docs/backup.md); the
 * writer is backup_write.c, the archive reader backup_read.c. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "backup_internal.h"
#include "k3sforge/backup.h"
#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/pki.h"
#include "k3sforge/tar.h"

/* ---------------------------------------------------------------- restore */

/* Restore is all-or-nothing: every check on the archive and on the destinations runs before the
 * first write; the files are then written into a staging directory next to their destination
 * directory (same file system, unpredictable name, 0700), verified again while written, and
 * moved into place only when all of them are there. A failed move is rolled back (files it
 * replaced moved back, files and directories it added removed) and the staging directory is
 * removed: a failed restore leaves the output dir as it was. A destination directory that does
 * not exist yet is the staging directory itself, renamed into place in one step. */

/* Modes come from what each file is (DESIGN section 8), never from the archive: what prep
 * writes for the public files (certificates, public keys, known_hosts, state.json,
 * registries.yaml), 0600 for everything else (keys, secrets/, kubeconfig, the configuration,
 * the image bundle, anything unknown). Directories a restore creates are 0700. */
static const struct {
	const char *pattern; /* fnmatch(FNM_PATHNAME) on the archive name */
	mode_t mode;
} public_files[] = {
	{ "out/pki/*.crt", 0644 },         { "out/ssh/*.pub", 0644 },
	{ "out/ssh/host/*.pub", 0644 },    { "out/" KF_OUT_KNOWN_HOSTS, 0644 },
	{ "out/state.json", 0644 },        { "out/registries.yaml", 0644 },
};

#define ROOTS 3
#define DIR_MODE 0700

struct root {
	char *dir;            /* a destination directory (absolute) */
	char *stage;          /* its staging directory (pass 2) */
	char *files;          /* where staged files go: stage (new dir) or stage/f */
	size_t base;          /* a new dir: the length of its nearest existing ancestor */
	bool exists;          /* dir existed when the destinations were checked */
	bool changes;         /* some member writes under it */
	bool keep_stage;      /* a failed rollback left replaced files in stage */
};

struct member {
	const char *name;     /* borrowed from the manifest */
	const char *sha256;
	uint64_t size;
	mode_t mode;          /* member_mode(name) */
	bool seen;
	struct root *root;
	const char *rel;      /* path under root->dir (borrowed from name) */
	char *dest;           /* root->dir/rel */
	char *staged;         /* root->files/rel (pass 2) */
	char *old;            /* where the file dest held waits while it is replaced (--force) */
	bool unchanged;       /* dest already holds these bytes */
	bool replaces;        /* dest exists and differs (--force) */
};

/* One step of the move into place, undone in reverse order on failure. */
enum step_kind { STEP_MKDIR, STEP_SAVE, STEP_PLACE, STEP_SWAP };

struct step {
	enum step_kind kind;
	char *dir;            /* STEP_MKDIR: the directory made (owned) */
	struct member *m;     /* STEP_SAVE, STEP_PLACE */
	struct root *root;    /* STEP_SWAP */
};

struct restore {
	const struct kf_restore_opts *o;
	json_t *manifest;
	struct member *m;
	struct member **by_name;  /* sorted with path_cmp, for lookups */
	size_t n;
	struct root roots[ROOTS];
	size_t n_roots;
	struct step *steps;
	size_t n_steps, cap_steps;
};

static mode_t member_mode(const char *name)
{
	for (size_t i = 0; i < sizeof(public_files) / sizeof(public_files[0]); i++)
		if (fnmatch(public_files[i].pattern, name, FNM_PATHNAME) == 0)
			return public_files[i].mode;
	return 0600;
}

/* strcmp with '/' sorting before every other byte: a path is then directly followed by
 * everything under it ("a", "a/b", "a.x"), so a file that is also a directory of another
 * member shows in a neighbour comparison. */
static int path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = *a == '/' ? 1 : (unsigned char)*a, cb = *b == '/' ? 1 : (unsigned char)*b;
		if (ca != cb || !ca)
			return ca - cb;
	}
}

static int cmp_name(const void *a, const void *b)
{
	return path_cmp((*(struct member *const *)a)->name, (*(struct member *const *)b)->name);
}

static int cmp_dest(const void *a, const void *b)
{
	return path_cmp((*(struct member *const *)a)->dest, (*(struct member *const *)b)->dest);
}

/* Is b a path under the directory a? */
static bool under(const char *a, const char *b)
{
	size_t n = strlen(a);

	return strncmp(a, b, n) == 0 && b[n] == '/';
}

static struct member *find_member(struct restore *rx, const char *name)
{
	size_t lo = 0, hi = rx->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = path_cmp(rx->by_name[mid]->name, name);
		if (c == 0)
			return rx->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Does some member lie under the directory dir ("out/pki")? */
static bool holds_member(struct restore *rx, const char *dir)
{
	size_t lo = 0, hi = rx->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (path_cmp(rx->by_name[mid]->name, dir) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < rx->n && under(dir, rx->by_name[lo]->name);
}

static int add_step(struct restore *rx, enum step_kind kind, char *dir, struct member *m,
		    struct root *root, struct kf_err *err)
{
	if (rx->n_steps == rx->cap_steps) {
		size_t nc = rx->cap_steps ? rx->cap_steps * 2 : 64;
		struct step *nv = realloc(rx->steps, nc * sizeof(*nv));
		if (!nv) {
			free(dir);
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		}
		rx->steps = nv;
		rx->cap_steps = nc;
	}
	rx->steps[rx->n_steps++] = (struct step){ kind, dir, m, root };
	return 0;
}

/* A destination directory, absolute, without trailing slashes; the same directory given twice
 * (-o DIR and --config-dir DIR) is one root. */
static int add_root(struct restore *rx, const char *dir, struct root **out, struct kf_err *err)
{
	char *abs = kf_path_abs(dir);
	size_t len;

	if (!abs)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	len = strlen(abs);
	while (len > 1 && abs[len - 1] == '/')
		abs[--len] = '\0';
	for (size_t i = 0; i < rx->n_roots; i++)
		if (strcmp(rx->roots[i].dir, abs) == 0) {
			free(abs);
			*out = &rx->roots[i];
			return 0;
		}
	rx->roots[rx->n_roots].dir = abs;
	*out = &rx->roots[rx->n_roots++];
	return 0;
}

/* A directory entry (GNU tar writes them when a backup is re-tarred from a tree): accepted when
 * it is out/, config/, images/ or a directory above a listed member; its mode is ignored. */
static int check_dir_entry(struct restore *rx, char *name, uint64_t size, const char *path,
			   struct kf_err *err)
{
	size_t len = strlen(name);

	if (size != 0 || len < 2 || name[len - 1] != '/')
		return kf_err_set(err, KF_EPARSE, "%s: malformed directory entry '%s'", path, name);
	name[len - 1] = '\0';
	if ((strcmp(name, "out") != 0 && strcmp(name, "config") != 0 &&
	     strcmp(name, "images") != 0 && !kf_backup_name_ok(name)) ||
	    !holds_member(rx, name))
		return kf_err_set(err, KF_EDIGEST,
				  "%s: directory '%s/' holds no member of the manifest (a file, or "
				  "an unlisted directory); refused",
				  path, name);
	return 0;
}

static int load_manifest(struct restore *rx, const char *text, size_t len, uint64_t plain_len,
			 const char *path, struct kf_err *err)
{
	struct member **by_dest = NULL;
	json_error_t je;
	json_t *members, *it;
	struct root *roots[ROOTS];
	uint64_t total;
	size_t i;
	int r = 0;

	/* the whole member, once: no NUL-cut text, no key given twice */
	rx->manifest = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!rx->manifest || !json_is_object(rx->manifest) ||
	    strcmp(json_string_value(json_object_get(rx->manifest, "format")) ?: "",
		   "k3sforge-backup") != 0 ||
	    json_integer_value(json_object_get(rx->manifest, "version")) != 1)
		return kf_err_set(err, KF_EPARSE, "%s: not a k3sforge backup (version 1) manifest",
				  path);
	members = json_object_get(rx->manifest, "members");
	if (!json_is_array(members) || json_array_size(members) > MEMBERS_MAX)
		return kf_err_set(err, KF_EPARSE, "%s: manifest without a member list", path);
	if ((r = add_root(rx, rx->o->out_dir, &roots[0], err)) != 0 ||
	    (r = add_root(rx, rx->o->config_dir ? rx->o->config_dir : rx->o->out_dir, &roots[1],
			  err)) != 0 ||
	    (r = add_root(rx, rx->o->images_dir ? rx->o->images_dir : rx->o->out_dir, &roots[2],
			  err)) != 0)
		return r;
	rx->n = json_array_size(members);
	if (!(rx->m = calloc(rx->n + 1, sizeof(*rx->m))) ||
	    !(rx->by_name = calloc(rx->n + 1, sizeof(*rx->by_name))) ||
	    !(by_dest = calloc(rx->n + 1, sizeof(*by_dest))))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	/* The manifest's header and the end marker, then each member's header and blocks: more
	 * than the archive holds is a damaged or crafted manifest. */
	total = 3 * KF_TAR_BLOCK + (len + KF_TAR_BLOCK - 1) / KF_TAR_BLOCK * KF_TAR_BLOCK;
	json_array_foreach(members, i, it) {
		struct member *m = &rx->m[i];
		json_t *size = json_object_get(it, "size");
		m->name = json_string_value(json_object_get(it, "name"));
		m->sha256 = json_string_value(json_object_get(it, "sha256"));
		if (!m->name || !kf_backup_name_ok(m->name) || !m->sha256 ||
		    !kf_sha256_valid_hex(m->sha256) || !json_is_integer(size) ||
		    json_integer_value(size) < 0) {
			r = kf_err_set(err, KF_EPARSE, "%s: manifest entry %zu is malformed", path, i);
			goto out;
		}
		m->size = (uint64_t)json_integer_value(size);
		if (m->size > plain_len || (total += KF_TAR_BLOCK + m->size) > plain_len) {
			r = kf_err_set(err, KF_EPARSE,
				       "%s: the manifest lists more bytes than the archive holds "
				       "(truncated, damaged or crafted)",
				       path);
			goto out;
		}
		m->mode = member_mode(m->name);
		if (strncmp(m->name, "out/", 4) == 0)
			m->root = roots[0], m->rel = m->name + 4;
		else if (strncmp(m->name, "config/", 7) == 0)
			m->root = roots[1], m->rel = m->name + 7;
		else
			m->root = roots[2], m->rel = m->name + 7;
		if (!(m->dest = kf_path_join(m->root->dir, m->rel))) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		rx->by_name[i] = by_dest[i] = m;
	}
	qsort(rx->by_name, rx->n, sizeof(*rx->by_name), cmp_name);
	for (i = 1; i < rx->n; i++)
		if (strcmp(rx->by_name[i - 1]->name, rx->by_name[i]->name) == 0) {
			r = kf_err_set(err, KF_EPARSE, "%s: %s listed twice", path,
				       rx->by_name[i]->name);
			goto out;
		}
	/* Two members with one destination, or a file that is also the directory of another:
	 * refused as a whole, before anything is written. */
	qsort(by_dest, rx->n, sizeof(*by_dest), cmp_dest);
	for (i = 1; i < rx->n; i++) {
		const struct member *a = by_dest[i - 1], *b = by_dest[i];
		if (strcmp(a->dest, b->dest) == 0 || under(a->dest, b->dest)) {
			r = kf_err_set(err, KF_EPARSE,
				       strcmp(a->dest, b->dest) == 0
					       ? "%s: '%s' and '%s' would both be %s; refused"
					       : "%s: '%s' would be a file and the directory of '%s' (%s); "
						 "refused",
				       path, a->name, b->name, a->dest);
			goto out;
		}
	}
out:
	free(by_dest);
	return r;
}

/* One pass over the archive. extract false: check the manifest and every header and digest.
 * extract true: also write each changed member to its staged file. */
static int walk(struct restore *rx, const char *path, bool extract, struct kf_err *err)
{
	struct kf_backup_reader rs;
	unsigned char *buf = malloc(CHUNK);
	char name[101], type = '0';
	uint64_t size = 0;
	size_t headers = 0;
	bool first = true;
	int r, fd = -1;

	if (!buf)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = kf_backup_reader_open(&rs, path, rx->o->passphrase, err)) != 0)
		goto out;
	while ((r = kf_backup_next_header(&rs, name, &size, &type, err)) == 1) {
		struct kf_sha256 *h;
		char hex[KF_SHA256_HEX_LEN + 1];
		struct member *m = NULL;
		uint64_t done = 0;

		if (first) {
			char *text;
			first = false;
			if (strcmp(name, KF_BACKUP_MANIFEST) != 0 || type != '0' ||
			    size > MANIFEST_MAX) {
				r = kf_err_set(err, KF_EPARSE,
					       "%s: not a k3sforge backup (no manifest first)", path);
				goto out;
			}
			if (!(text = calloc(1, (size_t)size + 1))) {
				r = kf_err_set(err, KF_ENOMEM, "out of memory");
				goto out;
			}
			r = kf_backup_reader_read(&rs, text, (size_t)size, err);
			if (!r && !rx->manifest)
				r = load_manifest(rx, text, (size_t)size, rs.plain_len, path, err);
			free(text);
			if (!r && size % 512)
				r = kf_backup_reader_read(&rs, buf, 512 - size % 512, err);
			if (r)
				goto out;
			continue;
		}
		if (++headers > 2 * (size_t)MEMBERS_MAX) {
			r = kf_err_set(err, KF_ELIMIT, "%s: more than %d entries", path,
				       2 * MEMBERS_MAX);
			goto out;
		}
		if (type == '5') {
			if ((r = check_dir_entry(rx, name, size, path, err)) != 0)
				goto out;
			continue;
		}
		if (!(m = find_member(rx, name))) {
			r = kf_err_set(err, KF_EDIGEST, "%s: '%s' is not in the manifest", path, name);
			goto out;
		}
		if (m->seen) {
			r = kf_err_set(err, KF_EDIGEST, "%s: '%s' appears twice", path, name);
			goto out;
		}
		if (size != m->size) {
			r = kf_err_set(err, KF_EDIGEST, "%s: '%s' has %llu bytes, the manifest says %llu",
				       path, name, (unsigned long long)size,
				       (unsigned long long)m->size);
			goto out;
		}
		m->seen = true;
		if (extract && m->staged &&
		    (fd = open(m->staged, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			r = kf_err_set(err, KF_EIO, "%s: %s", m->staged, strerror(errno));
			goto out;
		}
		if (!(h = kf_sha256_new())) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		while (done < size) {
			size_t take = size - done > CHUNK ? CHUNK : (size_t)(size - done);
			if ((r = kf_backup_reader_read(&rs, buf, take, err)) != 0)
				break;
			kf_sha256_update(h, buf, take);
			if (fd >= 0 && write(fd, buf, take) != (ssize_t)take) {
				r = kf_err_set(err, KF_EIO, "%s: %s%s", m->staged, strerror(errno),
					       errno == ENOSPC ? " (free some disk space and run again)"
							       : "");
				break;
			}
			done += take;
		}
		kf_sha256_final_hex(h, hex);
		if (fd >= 0) {
			if (!r && fsync(fd) != 0)
				r = kf_err_set(err, KF_EIO, "%s: %s", m->staged, strerror(errno));
			close(fd);
			fd = -1;
		}
		if (r)
			goto out;
		if (strcmp(hex, m->sha256) != 0) {
			r = kf_err_set(err, KF_EDIGEST,
				       "%s: '%s' does not match its digest in the manifest (damaged or "
				       "tampered with); nothing was restored",
				       path, name);
			goto out;
		}
		if (size % 512 && (r = kf_backup_reader_read(&rs, buf, 512 - size % 512, err)) != 0)
			goto out;
	}
	if (r < 0)
		goto out;
	if (first) {
		r = kf_err_set(err, KF_EPARSE, "%s: empty archive", path);
		goto out;
	}
	for (size_t i = 0; i < rx->n; i++)
		if (!rx->m[i].seen) {
			r = kf_err_set(err, KF_EDIGEST, "%s: '%s' is missing (truncated archive?)",
				       path, rx->m[i].name);
			goto out;
		}
	r = kf_backup_reader_finish(&rs, buf, err);
out:
	if (fd >= 0)
		close(fd);
	/* Garbage from a wrong key fails the tar parse first: the tag says which it was. */
	if (r && r != KF_EAUTH && rs.c)
		kf_backup_reader_check_tag(&rs, buf, err);
	kf_backup_reader_close(&rs);
	kf_freezero(buf, CHUNK);
	return r;
}

static const char *kind_of(mode_t mode)
{
	return S_ISLNK(mode) ? "a symbolic link" : S_ISDIR(mode) ? "a directory"
			     : S_ISREG(mode) ? "a file" : "a special file";
}

/* Every directory between the root and the member's destination must be a real directory or
 * not exist yet (a symbolic link would send the lab's keys elsewhere); the destination must be
 * a file or nothing. Not even --force replaces a directory or follows a link. */
static int check_path(struct member *m, struct kf_err *err)
{
	char *p = strdup(m->dest);
	size_t base = strlen(m->root->dir);
	struct stat sb;
	int r = 0;

	if (!p)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (char *c = p + base + 1; (c = strchr(c, '/')) != NULL; c++) {
		*c = '\0';
		if (lstat(p, &sb) != 0) {
			if (errno != ENOENT)
				r = kf_err_set(err, KF_EIO, "%s: %s", p, strerror(errno));
			goto out;  /* the rest does not exist either */
		}
		if (!S_ISDIR(sb.st_mode)) {
			r = kf_err_set(err, KF_EEXIST,
				       "%s is %s where the backup needs a directory (for %s): move it "
				       "away and run restore again; nothing was restored",
				       p, kind_of(sb.st_mode), m->name);
			goto out;
		}
		*c = '/';
	}
	if (lstat(p, &sb) != 0) {
		if (errno != ENOENT)
			r = kf_err_set(err, KF_EIO, "%s: %s", p, strerror(errno));
		goto out;
	}
	if (S_ISREG(sb.st_mode)) {
		char hex[KF_SHA256_HEX_LEN + 1];
		struct kf_err e;
		m->unchanged = kf_sha256_file(p, hex, &e) == 0 && strcmp(hex, m->sha256) == 0;
		m->replaces = !m->unchanged;
	} else if (S_ISLNK(sb.st_mode)) {
		m->replaces = true;  /* the link itself is replaced, never followed */
	} else {
		r = kf_err_set(err, KF_EEXIST,
			       "%s is %s, the backup has a file there: move it away and run "
			       "restore again; nothing was restored",
			       p, kind_of(sb.st_mode));
	}
out:
	free(p);
	return r;
}

/* The nearest existing ancestor of path (path itself if it exists); caller frees. */
static char *existing_ancestor(const char *path)
{
	char *p = strdup(path);
	struct stat sb;

	while (p && lstat(p, &sb) != 0) {
		char *slash = strrchr(p, '/');
		if (!slash || slash == p) {
			strcpy(p, "/");
			break;
		}
		*slash = '\0';
	}
	return p;
}

/* Pass 1, on the destinations: nothing is written. What already holds the member (unchanged),
 * what differs (refused without --force), what can never be replaced, and room for the rest. */
static int check_destinations(struct restore *rx, struct kf_err *err)
{
	struct kf_buf list;
	size_t conflicts = 0;
	uint64_t need[ROOTS] = { 0 };
	struct stat sb;
	int r = 0;

	for (size_t i = 0; i < rx->n_roots; i++) {
		struct root *root = &rx->roots[i];
		if (stat(root->dir, &sb) == 0) {
			if (!S_ISDIR(sb.st_mode))
				return kf_err_set(err, KF_EEXIST, "%s exists and is not a directory",
						  root->dir);
			root->exists = true;
		} else if (errno != ENOENT) {
			return kf_err_set(err, KF_EIO, "%s: %s", root->dir, strerror(errno));
		}
	}
	kf_buf_init(&list, 4096);
	for (size_t i = 0; i < rx->n; i++) {
		struct member *m = &rx->m[i];
		if (m->root->exists && (r = check_path(m, err)) != 0)
			goto out;
		if (m->unchanged)
			continue;
		m->root->changes = true;
		need[m->root - rx->roots] += m->size;
		if (m->replaces && !rx->o->force) {
			if (conflicts < 5)
				kf_buf_printf(&list, "%s%s", conflicts ? ", " : "", m->dest);
			conflicts++;
		}
	}
	if (conflicts) {
		r = kf_err_set(err, KF_EEXIST,
			       "%zu existing file%s differ from the backup (%s%s): another lab's "
			       "identity would be replaced; restore into an empty -o DIR, or pass "
			       "--force to overwrite; nothing was restored",
			       conflicts, conflicts == 1 ? "" : "s", kf_buf_str(&list),
			       conflicts > 5 ? ", ..." : "");
		goto out;
	}
	for (size_t i = 0; i < rx->n_roots; i++) {
		struct statvfs vs;
		char *at;
		if (!rx->roots[i].changes)
			continue;
		if (!(at = existing_ancestor(rx->roots[i].dir))) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		if (statvfs(at, &vs) == 0 &&
		    need[i] + (1 << 20) > (uint64_t)vs.f_bavail * vs.f_frsize) {
			r = kf_err_set(err, KF_ELIMIT,
				       "%s: the restore needs %llu MiB and %llu MiB are free; free "
				       "some space and run it again; nothing was restored",
				       at, (unsigned long long)(need[i] >> 20) + 1,
				       (unsigned long long)((uint64_t)vs.f_bavail * vs.f_frsize >> 20));
			free(at);
			goto out;
		}
		free(at);
	}
out:
	kf_buf_free(&list);
	return r;
}

/* mkdir with exactly DIR_MODE, whatever the umask. */
static int make_dir(const char *path, struct kf_err *err)
{
	if (mkdir(path, DIR_MODE) != 0 || chmod(path, DIR_MODE) != 0)
		return kf_err_set(err, KF_EIO, "cannot create directory %s: %s", path,
				  strerror(errno));
	return 0;
}

/* The missing directories between base (exists) and path's parent, made DIR_MODE. */
static int make_parents(const char *path, size_t base, struct kf_err *err)
{
	char *p = strdup(path);
	struct stat sb;
	int r = 0;

	if (!p)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (char *c = p + base + 1; (c = strchr(c, '/')) != NULL; c++) {
		*c = '\0';
		if (lstat(p, &sb) != 0 && (r = make_dir(p, err)) != 0)
			break;
		*c = '/';
	}
	free(p);
	return r;
}

/* Pass 2 set-up: a staging directory per destination directory that changes, next to it on
 * the same file system (inside it when its parent is another file system or not writable),
 * and an empty file of the member's mode for each member that changes. */
static int make_stages(struct restore *rx, struct kf_err *err)
{
	struct stat sb, psb;
	int r = 0;

	for (size_t i = 0; i < rx->n_roots; i++) {
		struct root *root = &rx->roots[i];
		char *parent, *slash, *tmpl;
		const char *base;
		if (!root->changes)
			continue;
		if (root->exists) {
			if (!(parent = strdup(root->dir)))
				return kf_err_set(err, KF_ENOMEM, "out of memory");
			slash = strrchr(parent, '/');
			if (slash && slash != parent)
				*slash = '\0';
			else if (slash)
				slash[1] = '\0';
			if (strcmp(parent, root->dir) == 0 || stat(root->dir, &sb) != 0 ||
			    stat(parent, &psb) != 0 || sb.st_dev != psb.st_dev ||
			    access(parent, W_OK) != 0) {
				free(parent);
				if (!(parent = strdup(root->dir)))
					return kf_err_set(err, KF_ENOMEM, "out of memory");
			}
		} else if (!(parent = existing_ancestor(root->dir))) {
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		} else {
			root->base = strcmp(parent, "/") == 0 ? 0 : strlen(parent);
		}
		base = strrchr(root->dir, '/') ? strrchr(root->dir, '/') + 1 : root->dir;
		if (!*base)
			base = "root";
		tmpl = malloc(strlen(parent) + strlen(base) + 32);
		if (!tmpl) {
			free(parent);
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		}
		sprintf(tmpl, "%s/.%s.restore.XXXXXX", strcmp(parent, "/") ? parent : "", base);
		free(parent);
		if (!mkdtemp(tmpl)) {
			r = kf_err_set(err, KF_EIO, "cannot create a staging directory %s: %s", tmpl,
				       strerror(errno));
			free(tmpl);
			return r;
		}
		root->stage = tmpl;
		if (chmod(tmpl, DIR_MODE) != 0)
			return kf_err_set(err, KF_EIO, "%s: %s", tmpl, strerror(errno));
		if (!(root->files = root->exists ? kf_path_join(tmpl, "f") : strdup(tmpl)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		if (root->exists && (r = make_dir(root->files, err)) != 0)
			return r;
	}
	for (size_t i = 0; i < rx->n; i++) {
		struct member *m = &rx->m[i];
		int fd;
		if (m->unchanged)
			continue;
		if (!(m->staged = kf_path_join(m->root->files, m->rel)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		if ((r = make_parents(m->staged, strlen(m->root->files), err)) != 0)
			return r;
		fd = open(m->staged, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return kf_err_set(err, KF_EIO, "cannot create %s: %s", m->staged,
					  strerror(errno));
		if (fchmod(fd, m->mode) != 0) {
			r = kf_err_set(err, KF_EIO, "%s: %s", m->staged, strerror(errno));
			close(fd);
			return r;
		}
		close(fd);
	}
	return 0;
}

/* Makes the missing directories between the first base bytes of path (a directory that
 * exists) and path's parent, DIR_MODE, recording each for rollback(). */
static int place_parents(struct restore *rx, const char *path, size_t base, struct kf_err *err)
{
	char *p = strdup(path), *c;
	struct stat sb;
	int r = 0;

	if (!p)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (c = p + base + 1; (c = strchr(c, '/')) != NULL; c++) {
		char *dir;
		*c = '\0';
		if (lstat(p, &sb) == 0) {
			if (!S_ISDIR(sb.st_mode)) {
				r = kf_err_set(err, KF_EEXIST, "%s is %s, not a directory", p,
					       kind_of(sb.st_mode));
				break;
			}
		} else if ((r = make_dir(p, err)) != 0) {
			break;
		} else if (!(dir = strdup(p))) {
			rmdir(p);
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			break;
		} else if ((r = add_step(rx, STEP_MKDIR, dir, NULL, NULL, err)) != 0) {
			rmdir(p);
			break;
		}
		*c = '/';
	}
	free(p);
	return r;
}

/* Moves everything into place, recording each step for rollback(). */
static int commit(struct restore *rx, struct kf_err *err)
{
	int r;

	for (size_t i = 0; i < rx->n_roots; i++) {
		struct root *root = &rx->roots[i];
		if (!root->changes || root->exists)
			continue;
		if ((r = place_parents(rx, root->dir, root->base, err)) != 0)
			return r;
		if (rename(root->stage, root->dir) != 0)
			return kf_err_set(err, KF_EIO, "cannot move %s to %s: %s%s", root->stage,
					  root->dir, strerror(errno),
					  errno == EEXIST || errno == ENOTEMPTY
						  ? " (it appeared while restoring)" : "");
		if ((r = add_step(rx, STEP_SWAP, NULL, NULL, root, err)) != 0) {
			rename(root->dir, root->stage);
			return r;
		}
	}
	for (size_t i = 0; i < rx->n; i++) {
		struct member *m = &rx->m[i];
		if (m->unchanged || !m->root->exists)
			continue;
		if ((r = place_parents(rx, m->dest, strlen(m->root->dir), err)) != 0)
			return r;
		if (m->replaces) {
			char name[32];
			snprintf(name, sizeof(name), "o%zu", i);
			if (!(m->old = kf_path_join(m->root->stage, name)))
				return kf_err_set(err, KF_ENOMEM, "out of memory");
			if (rename(m->dest, m->old) != 0)
				return kf_err_set(err, KF_EIO, "cannot move %s aside: %s", m->dest,
						  strerror(errno));
			if ((r = add_step(rx, STEP_SAVE, NULL, m, NULL, err)) != 0) {
				rename(m->old, m->dest);
				return r;
			}
		}
		if (rename(m->staged, m->dest) != 0)
			return kf_err_set(err, KF_EIO, "cannot move %s to %s: %s", m->staged, m->dest,
					  strerror(errno));
		if ((r = add_step(rx, STEP_PLACE, NULL, m, NULL, err)) != 0) {
			unlink(m->dest);
			return r;
		}
	}
	return 0;
}

/* Undoes commit()'s steps in reverse. A step that cannot be undone is named in err, and the
 * staging directory that still holds a replaced file is kept. */
static void rollback(struct restore *rx, struct kf_err *err)
{
	char first[512] = "";

	while (rx->n_steps > 0) {
		struct step *s = &rx->steps[--rx->n_steps];
		const char *what = NULL;
		int rc = 0;
		switch (s->kind) {
		case STEP_PLACE:
			if (!s->m->replaces && (rc = unlink(s->m->dest)) != 0)
				what = s->m->dest;
			break;
		case STEP_SAVE:
			/* puts the old file back over the new one in one step */
			if ((rc = rename(s->m->old, s->m->dest)) != 0) {
				what = s->m->dest;
				s->m->root->keep_stage = true;
			}
			break;
		case STEP_MKDIR:
			if ((rc = rmdir(s->dir)) != 0)
				what = s->dir;
			free(s->dir);
			break;
		case STEP_SWAP:
			if ((rc = rename(s->root->dir, s->root->stage)) != 0)
				what = s->root->dir;
			break;
		}
		if (rc != 0 && !first[0])
			snprintf(first, sizeof(first), "%s: %s", what, strerror(errno));
	}
	if (first[0]) {
		const char *kept = NULL;
		for (size_t i = 0; i < rx->n_roots && !kept; i++)
			if (rx->roots[i].keep_stage)
				kept = rx->roots[i].stage;
		kf_err_wrap(err, "undoing the restore failed too (%s)%s%s; the restore failed", first,
			    kept ? ": the files it replaced are kept in " : "", kept ? kept : "");
	}
}

int kf_restore(const char *path, const struct kf_restore_opts *opts,
	       struct kf_restore_stats *stats, struct kf_err *err)
{
	struct restore rx = { .o = opts };
	int r;

	memset(stats, 0, sizeof(*stats));
	/* Pass 1: the whole archive and every destination checked; nothing is touched. */
	if ((r = walk(&rx, path, false, err)) != 0)
		goto out;
	if ((r = check_destinations(&rx, err)) != 0)
		goto out;
	/* Pass 2: written into the staging directories, verified again while written. */
	if ((r = make_stages(&rx, err)) != 0)
		goto out;
	for (size_t i = 0; i < rx.n; i++)
		rx.m[i].seen = false;
	if ((r = walk(&rx, path, true, err)) != 0)
		goto out;
	/* Then moved into place, or not at all. */
	if ((r = commit(&rx, err)) != 0) {
		rollback(&rx, err);
		goto out;
	}
	for (size_t i = 0; i < rx.n; i++) {
		struct member *m = &rx.m[i];
		if (strncmp(m->name, "config/", 7) == 0 && !stats->config_path)
			stats->config_path = strdup(m->dest);
		if (strncmp(m->name, "images/", 7) == 0 && !stats->images_path)
			stats->images_path = strdup(m->dest);
		if (m->unchanged)
			stats->unchanged++;
		else
			stats->files++;
	}
out:
	for (size_t i = 0; i < rx.n_steps; i++)
		free(rx.steps[i].dir);
	free(rx.steps);
	for (size_t i = 0; i < rx.n_roots; i++) {
		struct kf_err e;
		if (rx.roots[i].stage && !rx.roots[i].keep_stage)
			kf_fs_remove_tree(rx.roots[i].stage, &e);
		free(rx.roots[i].stage);
		free(rx.roots[i].files);
		free(rx.roots[i].dir);
	}
	for (size_t i = 0; i < rx.n; i++) {
		free(rx.m[i].dest);
		free(rx.m[i].staged);
		free(rx.m[i].old);
	}
	free(rx.m);
	free(rx.by_name);
	json_decref(rx.manifest);
	if (r)
		kf_restore_stats_free(stats);
	return r;
}

void kf_restore_stats_free(struct kf_restore_stats *st)
{
	if (!st)
		return;
	free(st->config_path);
	free(st->images_path);
	st->config_path = st->images_path = NULL;
}
