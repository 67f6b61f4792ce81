/* The templates built into the binary (cmake/tools/embed-templates.cmake): byte for byte every
 * file under the source tree's templates/, nothing more, used when K3SFORGE_TEMPLATES is unset,
 * with the override directory still winning when it is set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/iso.h"
#include "k3sforge/render.h"

#define TPL KF_SOURCE_DIR "/templates"
#define MAX_FILES 256

struct walk {
	char *rel[MAX_FILES];
	size_t n;
};

/* Collects every regular file under TPL/sub (recursively) as a path relative to TPL. */
static void walk(struct walk *w, const char *sub)
{
	char dirpath[4096], rel[2048];
	struct dirent *e;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "%s%s%s", TPL, *sub ? "/" : "", sub);
	d = opendir(dirpath);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char full[6200];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "", e->d_name);
		snprintf(full, sizeof(full), "%s/%s", TPL, rel);
		assert_int_equal(stat(full, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			walk(w, rel);
		} else {
			assert_true(w->n < MAX_FILES);
			w->rel[w->n] = strdup(rel);
			assert_non_null(w->rel[w->n]);
			w->n++;
		}
	}
	closedir(d);
}

static char *read_source(const char *rel, size_t *len)
{
	char path[4096], *text = NULL;
	struct kf_err err;

	snprintf(path, sizeof(path), "%s/%s", TPL, rel);
	if (kf_fs_read(&text, len, path, KF_TPL_MAX_SIZE, &err) != 0)
		fail_msg("%s", err.msg);
	return text;
}

static void test_embedded_templates_are_every_source_template_byte_for_byte(void **state)
{
	struct walk w = { .n = 0 };
	const struct kf_tpl_file *f;
	size_t n;

	(void)state;
	walk(&w, "");
	f = kf_tpl_embedded(&n);
	assert_non_null(f);
	assert_true(w.n > 0);
	/* the same set of names: as many, and each source file has its entry */
	assert_int_equal(n, w.n);
	for (size_t i = 0; i < w.n; i++) {
		const struct kf_tpl_file *hit = NULL;
		size_t len;
		char *want;
		for (size_t k = 0; k < n; k++)
			if (strcmp(f[k].path, w.rel[i]) == 0)
				hit = &f[k];
		if (!hit)
			fail_msg("templates/%s is not built in", w.rel[i]);
		want = read_source(w.rel[i], &len);
		if (hit->len != len || memcmp(hit->data, want, len) != 0)
			fail_msg("built-in templates/%s differs from the source file (%zu vs %zu bytes)",
				 w.rel[i], hit->len, len);
		assert_int_equal(hit->data[hit->len], 0);
		free(want);
		free(w.rel[i]);
	}
}

static void test_embedded_templates_are_sorted_by_path(void **state)
{
	size_t n;
	const struct kf_tpl_file *f = kf_tpl_embedded(&n);

	(void)state;
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(f[i - 1].path, f[i].path) < 0);
}

static void test_template_dir_is_null_without_override(void **state)
{
	(void)state;
	assert_int_equal(unsetenv("K3SFORGE_TEMPLATES"), 0);
	assert_null(kf_render_template_dir());
	assert_int_equal(setenv("K3SFORGE_TEMPLATES", "", 1), 0);
	assert_null(kf_render_template_dir());
	assert_int_equal(setenv("K3SFORGE_TEMPLATES", "/some/dir", 1), 0);
	assert_string_equal(kf_render_template_dir(), "/some/dir");
	assert_int_equal(unsetenv("K3SFORGE_TEMPLATES"), 0);
}

static void test_load_without_dir_gives_the_builtin_text(void **state)
{
	struct kf_err err;
	char *text = NULL, *want;
	size_t len;

	(void)state;
	want = read_source("scripts/bootstrap.sh", &len);
	if (kf_tpl_load(&text, NULL, "scripts/bootstrap.sh", &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(text, want);
	free(text);
	free(want);
}

static void test_load_of_a_template_not_built_in_is_not_found(void **state)
{
	struct kf_err err;
	char *text = NULL;

	(void)state;
	assert_int_equal(kf_tpl_load(&text, NULL, "no-such.yaml", &err), KF_ENOTFOUND);
	assert_null(text);
	assert_non_null(strstr(err.msg, "no-such.yaml"));
	assert_non_null(strstr(err.msg, "K3SFORGE_TEMPLATES"));
}

static void test_override_dir_wins_over_the_builtin_template(void **state)
{
	char dir[] = "/tmp/kftplembed.XXXXXX", path[64], *out = NULL;
	json_t *ctx = json_pack("{s:s}", "a", "x");
	struct kf_err err;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/meta-data.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("mine: {{a}}\r\n", f);
	fclose(f);
	assert_int_equal(kf_tpl_render_file(&out, dir, "meta-data.yaml", ctx, &err), 0);
	assert_string_equal(out, "mine: x\n");
	free(out);
	json_decref(ctx);
	unlink(path);
	rmdir(dir);
}

static void test_builtin_template_error_names_templates_path(void **state)
{
	json_t *ctx = json_object();
	struct kf_err err;
	char *out = NULL;

	(void)state;
	/* meta-data.yaml needs instance_id: an empty context is a missing-variable error */
	assert_int_equal(kf_tpl_render_file(&out, NULL, "meta-data.yaml", ctx, &err), KF_EPARSE);
	assert_null(out);
	assert_non_null(strstr(err.msg, "templates/meta-data.yaml:1:"));
	json_decref(ctx);
}

static void test_grub_edit_without_dir_uses_the_builtin_template(void **state)
{
	const char *cfg = "menuentry \"Install\" {\n\tlinux\t/casper/vmlinuz  ---\n\tinitrd\t"
			  "/casper/initrd\n}\n";
	char *builtin = NULL, *fromdir = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(unsetenv("K3SFORGE_TEMPLATES"), 0);
	if (kf_iso_grub_edit(&builtin, cfg, "grub.cfg", NULL, &err) != 0 ||
	    kf_iso_grub_edit(&fromdir, cfg, "grub.cfg", TPL, &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(strstr(builtin, "menuentry \"k3sforge"));
	assert_string_equal(builtin, fromdir);
	free(builtin);
	free(fromdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_templates_are_every_source_template_byte_for_byte),
		cmocka_unit_test(test_embedded_templates_are_sorted_by_path),
		cmocka_unit_test(test_template_dir_is_null_without_override),
		cmocka_unit_test(test_load_without_dir_gives_the_builtin_text),
		cmocka_unit_test(test_load_of_a_template_not_built_in_is_not_found),
		cmocka_unit_test(test_override_dir_wins_over_the_builtin_template),
		cmocka_unit_test(test_builtin_template_error_names_templates_path),
		cmocka_unit_test(test_grub_edit_without_dir_uses_the_builtin_template),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
