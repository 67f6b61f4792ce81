/* File system helpers: bounded reads, atomic writes, mkdir -p, rm -rf, copy, the output-dir lock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "k3sforge/fs.h"

static int setup(void **state)
{
	char *dir = strdup("/tmp/kf_test_fs.XXXXXX");

	if (!mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	kf_fs_remove_tree(*state, NULL);
	free(*state);
	return 0;
}

static char *in(void **state, const char *rel)
{
	return kf_path_join(*state, rel);
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_fs_read_returns_content_and_length(void **state)
{
	char *p = in(state, "f.bin"), *data;
	size_t len;

	assert_int_equal(kf_fs_write_atomic(p, "a\0b\nc", 5, 0644, NULL), 0);
	assert_int_equal(kf_fs_read(&data, &len, p, 100, NULL), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "a\0b\nc", 5);
	assert_int_equal(data[5], '\0');
	free(data);
	free(p);
}

static void test_fs_read_missing_file_is_not_found(void **state)
{
	char *p = in(state, "nope.txt"), *data;
	struct kf_err err;

	assert_int_equal(kf_fs_read(&data, NULL, p, 100, &err), KF_ENOTFOUND);
	assert_null(data);
	assert_non_null(strstr(err.msg, p));
	free(p);
}

static void test_fs_read_refuses_file_over_the_limit(void **state)
{
	char *p = in(state, "big"), *data;
	struct kf_err err;

	assert_int_equal(kf_fs_write_atomic(p, "0123456789", 10, 0644, NULL), 0);
	assert_int_equal(kf_fs_read(&data, NULL, p, 9, &err), KF_ELIMIT);
	assert_null(data);
	assert_non_null(strstr(err.msg, "limit of 9"));
	assert_int_equal(kf_fs_read(&data, NULL, p, 10, &err), 0);
	free(data);
	free(p);
}

static void test_fs_read_bounds_an_endless_stream(void **state)
{
	char *data;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_fs_read(&data, NULL, "/dev/zero", 100000, &err), KF_ELIMIT);
	assert_null(data);
}

static void test_fs_read_directory_is_an_error(void **state)
{
	char *data;
	struct kf_err err;

	assert_int_equal(kf_fs_read(&data, NULL, *state, 100, &err), KF_EIO);
	assert_non_null(strstr(err.msg, "is a directory"));
}

static void test_fs_write_atomic_sets_mode_and_leaves_no_temp(void **state)
{
	char *p = in(state, "key"), *data;
	struct stat st;
	mode_t old = umask(022);

	assert_int_equal(kf_fs_write_atomic(p, "secret", 6, 0600, NULL), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(kf_fs_write_atomic(p, "new", 3, 0640, NULL), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(kf_fs_read(&data, NULL, p, 100, NULL), 0);
	assert_string_equal(data, "new");
	assert_int_equal(entries(*state), 1);
	umask(old);
	free(data);
	free(p);
}

static void test_fs_write_atomic_into_missing_dir_fails_cleanly(void **state)
{
	char *p = in(state, "no/such/dir/file");
	struct kf_err err;

	assert_int_equal(kf_fs_write_atomic(p, "x", 1, 0644, &err), KF_EIO);
	assert_non_null(strstr(err.msg, "no/such/dir/file"));
	assert_int_equal(entries(*state), 0);
	free(p);
}

static void test_fs_mkdirs_creates_nested_dirs_and_is_idempotent(void **state)
{
	char *p = in(state, "a/b/c");

	assert_int_equal(kf_fs_mkdirs(p, 0755, NULL), 0);
	assert_true(kf_fs_is_dir(p));
	assert_int_equal(kf_fs_mkdirs(p, 0755, NULL), 0);
	free(p);
}

static void test_fs_mkdirs_fails_when_a_component_is_a_file(void **state)
{
	char *f = in(state, "file"), *p = in(state, "file/sub");
	struct kf_err err;

	assert_int_equal(kf_fs_write_atomic(f, "x", 1, 0644, NULL), 0);
	assert_int_equal(kf_fs_mkdirs(p, 0755, &err), KF_EIO);
	assert_non_null(strstr(err.msg, "file"));
	assert_int_equal(kf_fs_mkdirs(f, 0755, &err), KF_EIO);
	assert_non_null(strstr(err.msg, "not a directory"));
	free(f);
	free(p);
}

static void test_fs_remove_tree_removes_everything_but_not_symlink_targets(void **state)
{
	char *tree = in(state, "tree"), *deep = in(state, "tree/x/y"), *f = in(state, "tree/x/y/f");
	char *outside = in(state, "outside"), *keep = in(state, "outside/keep");
	char *link = in(state, "tree/link");

	assert_int_equal(kf_fs_mkdirs(deep, 0755, NULL), 0);
	assert_int_equal(kf_fs_write_atomic(f, "x", 1, 0644, NULL), 0);
	assert_int_equal(kf_fs_mkdirs(outside, 0755, NULL), 0);
	assert_int_equal(kf_fs_write_atomic(keep, "k", 1, 0644, NULL), 0);
	assert_int_equal(symlink(outside, link), 0);
	assert_int_equal(kf_fs_remove_tree(tree, NULL), 0);
	assert_false(kf_fs_exists(tree));
	assert_true(kf_fs_exists(keep));
	assert_int_equal(kf_fs_remove_tree(tree, NULL), 0); /* missing is success */
	free(tree);
	free(deep);
	free(f);
	free(outside);
	free(keep);
	free(link);
}

static void test_fs_copy_copies_content_with_mode(void **state)
{
	char *src = in(state, "src"), *dst = in(state, "dst"), *data;
	struct stat st;
	size_t n = 3 * 1024 * 1024 + 17, len;
	char *big = malloc(n);

	for (size_t i = 0; i < n; i++)
		big[i] = (char)(i * 7);
	assert_int_equal(kf_fs_write_atomic(src, big, n, 0644, NULL), 0);
	assert_int_equal(kf_fs_copy(src, dst, 0600, NULL), 0);
	assert_int_equal(kf_fs_read(&data, &len, dst, n, NULL), 0);
	assert_int_equal(len, n);
	assert_memory_equal(data, big, n);
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(entries(*state), 2);
	free(data);
	free(big);
	free(src);
	free(dst);
}

static void test_fs_copy_of_missing_source_is_not_found(void **state)
{
	char *src = in(state, "missing"), *dst = in(state, "dst");
	struct kf_err err;

	assert_int_equal(kf_fs_copy(src, dst, 0644, &err), KF_ENOTFOUND);
	assert_false(kf_fs_exists(dst));
	free(src);
	free(dst);
}

static void test_fs_path_join_uses_one_slash(void **state)
{
	const char *cases[][3] = { { "a", "b", "a/b" }, { "a/", "b", "a/b" }, { "a//", "b", "a/b" },
				   { "a", "/abs", "/abs" }, { "", "b", "b" }, { "/", "b", "/b" } };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *j = kf_path_join(cases[i][0], cases[i][1]);
		assert_string_equal(j, cases[i][2]);
		free(j);
	}
}

static void test_fs_lock_second_acquire_is_refused_naming_the_holder(void **state)
{
	struct kf_lock *a = NULL, *b = NULL;
	struct kf_err err;
	char pid[32];

	assert_int_equal(kf_lock_acquire(&a, *state, &err), 0);
	assert_int_equal(kf_lock_acquire(&b, *state, &err), KF_ELOCKED);
	assert_null(b);
	snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
	assert_non_null(strstr(err.msg, pid));
	assert_non_null(strstr(err.msg, *state));
	kf_lock_release(a);
	assert_int_equal(kf_lock_acquire(&b, *state, &err), 0);
	kf_lock_release(b);
}

static void test_fs_lock_held_by_another_process_is_refused(void **state)
{
	int to_parent[2], to_child[2];
	pid_t child;
	char c, pid[32];
	struct kf_lock *lk = NULL;
	struct kf_err err;
	int status;

	assert_int_equal(pipe(to_parent), 0);
	assert_int_equal(pipe(to_child), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct kf_lock *held = NULL;
		char ok = kf_lock_acquire(&held, *state, NULL) == 0 ? 'y' : 'n';
		if (write(to_parent[1], &ok, 1) != 1 || read(to_child[0], &ok, 1) != 1)
			_exit(2);
		kf_lock_release(held);
		_exit(0);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(kf_lock_acquire(&lk, *state, &err), KF_ELOCKED);
	snprintf(pid, sizeof(pid), "(pid %ld)", (long)child);
	assert_non_null(strstr(err.msg, pid));
	assert_int_equal(write(to_child[1], "x", 1), 1);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the holder is gone: free again */
	assert_int_equal(kf_lock_acquire(&lk, *state, &err), 0);
	kf_lock_release(lk);
	close(to_parent[0]);
	close(to_parent[1]);
	close(to_child[0]);
	close(to_child[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_fs_read_returns_content_and_length),
		T(test_fs_read_missing_file_is_not_found),
		T(test_fs_read_refuses_file_over_the_limit),
		T(test_fs_read_bounds_an_endless_stream),
		T(test_fs_read_directory_is_an_error),
		T(test_fs_write_atomic_sets_mode_and_leaves_no_temp),
		T(test_fs_write_atomic_into_missing_dir_fails_cleanly),
		T(test_fs_mkdirs_creates_nested_dirs_and_is_idempotent),
		T(test_fs_mkdirs_fails_when_a_component_is_a_file),
		T(test_fs_remove_tree_removes_everything_but_not_symlink_targets),
		T(test_fs_copy_copies_content_with_mode),
		T(test_fs_copy_of_missing_source_is_not_found),
		T(test_fs_path_join_uses_one_slash),
		T(test_fs_lock_second_acquire_is_refused_naming_the_holder),
		T(test_fs_lock_held_by_another_process_is_refused),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
