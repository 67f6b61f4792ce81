/* The Windows side of a WSL host (platform_wsl.h): path translation, WSL's networking mode. */
#include "k3sforge/platform_wsl.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/proc.h"

#define WSLCONFIG_MAX (64 * 1024)
#define WSLINFO_TIMEOUT_MS 10000

int kf_wsl_to_windows(char **out, const char *path, struct kf_err *err)
{
	char *abs = kf_path_abs(path);
	struct kf_buf b;
	const char *rest;

	*out = NULL;
	if (!abs)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (strncmp(abs, "/mnt/", 5) != 0 || !isalpha((unsigned char)abs[5]) ||
	    (abs[6] != '/' && abs[6] != '\0')) {
		kf_err_set(err, KF_EUNSUPPORTED,
			   "%s is inside the WSL file system, which Windows programs such as "
			   "vmrun.exe cannot use for VM files; put paths.vm_dir and the output "
			   "directory on a Windows drive, e.g. /mnt/c/k3sforge",
			   abs);
		free(abs);
		return KF_EUNSUPPORTED;
	}
	kf_buf_init(&b, 0);
	kf_buf_printf(&b, "%c:\\", toupper((unsigned char)abs[5]));
	rest = abs[6] ? abs + 7 : "";
	for (; *rest; rest++)
		kf_buf_putc(&b, *rest == '/' ? '\\' : *rest);
	free(abs);
	*out = kf_buf_detach(&b);
	return *out ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory");
}

char *kf_windows_to_wsl(const char *win)
{
	size_t n = strlen(win);
	char *out;

	if (n < 3 || win[1] != ':' || (win[2] != '\\' && win[2] != '/'))
		return NULL;
	out = malloc(n + 8);
	if (!out)
		return NULL;
	snprintf(out, n + 8, "/mnt/%c%s", win[0] | 0x20, win + 2);
	for (char *p = out; *p; p++)
		if (*p == '\\')
			*p = '/';
	return out;
}

int kf_wsl_windows_home(char **out, struct kf_err *err)
{
	const char *env = getenv("K3SFORGE_WINDOWS_HOME");
	const char *argv[] = { KF_WIN_CMD_EXE, "/c", "echo", "%USERPROFILE%", NULL };
	struct kf_proc p;
	char *line, *wsl;
	int r;

	*out = NULL;
	if (env && *env) {
		*out = strdup(env);
		return *out ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	if (!kf_platform_is_wsl())
		return kf_err_set(err, KF_EUNSUPPORTED,
				  "--windows works from WSL only (this host is not WSL)");
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.cwd = KF_WIN_CWD;
	p.timeout_ms = 15000;
	if ((r = kf_proc_run_ok(&p, err)) != 0) {
		kf_proc_free(&p);
		return kf_err_wrap(err, "cannot ask Windows for %%USERPROFILE%%");
	}
	line = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	if (!line)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	line[strcspn(line, "\r\n")] = '\0';
	wsl = kf_windows_to_wsl(line);
	if (!wsl) {
		r = kf_err_set(err, KF_EFAIL, "Windows reported USERPROFILE as '%s', not a drive path",
			       line);
		free(line);
		return r;
	}
	free(line);
	*out = wsl;
	return 0;
}

char *kf_wslconfig_networking_mode(const char *text)
{
	const char *p = text;
	bool in_wsl2 = false;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		char line[256], *s, *e;
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), p);
		p = eol ? eol + 1 : NULL;
		for (s = line; isspace((unsigned char)*s); s++)
			;
		for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
			*--e = '\0';
		if (*s == '[') {
			in_wsl2 = strncasecmp(s, "[wsl2]", 6) == 0;
			continue;
		}
		if (!in_wsl2 || *s == '#' || *s == ';')
			continue;
		if (strncasecmp(s, "networkingMode", 14) == 0) {
			char *v = strchr(s, '=');
			if (!v)
				continue;
			for (v++; isspace((unsigned char)*v); v++)
				;
			return strdup(v);
		}
	}
	return NULL;
}

enum kf_wsl_netmode kf_wsl_parse_netmode(const char *text)
{
	char word[32] = "";

	if (!text || sscanf(text, " %31s", word) != 1)
		return KF_WSL_NAT;
	return strcasecmp(word, "mirrored") == 0 ? KF_WSL_MIRRORED : KF_WSL_NAT;
}

void kf_wslconfig_find(const char *users_dir, char **mode, char **path)
{
	DIR *d = opendir(users_dir);
	struct dirent *de;

	*mode = NULL;
	*path = NULL;
	while (d && (de = readdir(d)) != NULL && !*mode) {
		char *p = NULL, *text = NULL;
		struct kf_err e;
		if (de->d_name[0] == '.' || asprintf(&p, "%s/%s/.wslconfig", users_dir, de->d_name) < 0)
			continue;
		if (kf_fs_read(&text, NULL, p, WSLCONFIG_MAX, &e) == 0 &&
		    (*mode = kf_wslconfig_networking_mode(text)) != NULL)
			*path = p;
		else
			free(p);
		free(text);
	}
	if (d)
		closedir(d);
}

enum kf_wsl_netmode kf_wsl_netmode_decide(const char *wslinfo_out, const char *wslconfig_mode)
{
	if (wslinfo_out)
		return kf_wsl_parse_netmode(wslinfo_out);
	if (wslconfig_mode)
		return strcasecmp(wslconfig_mode, "mirrored") == 0 ? KF_WSL_MIRRORED : KF_WSL_NAT;
	return KF_WSL_NAT;
}

/* What `wslinfo --networking-mode` printed (caller frees), or NULL when it could not say. */
static char *ask_wslinfo(void)
{
	char *exe = kf_proc_which(KF_WSLINFO), *out = NULL;
	const char *argv[] = { exe, "--networking-mode", NULL };
	struct kf_proc p;
	struct kf_err e;

	if (!exe)
		return NULL;
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = WSLINFO_TIMEOUT_MS;
	if (kf_proc_run(&p, &e) == 0 && !p.signaled && p.exit_code == 0 && p.out.len)
		out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	free(exe);
	return out;
}

enum kf_wsl_netmode kf_wsl_networking_mode(char **source)
{
	char *info, *mode = NULL, *path = NULL;
	enum kf_wsl_netmode m;

	if (source)
		*source = NULL;
	if (!kf_platform_is_wsl())
		return KF_WSL_NONE;
	if ((info = ask_wslinfo()) != NULL) {
		m = kf_wsl_netmode_decide(info, NULL);
		free(info);
		if (source)
			*source = strdup("wslinfo --networking-mode");
		return m;
	}
	kf_wslconfig_find(KF_WIN_USERS_DIR, &mode, &path);
	m = kf_wsl_netmode_decide(NULL, mode);
	free(mode);
	if (source)
		*source = path;
	else
		free(path);
	return m;
}
