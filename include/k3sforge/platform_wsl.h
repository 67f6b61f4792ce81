/* The Windows side of a WSL host, in one place: is this WSL (kf_platform_is_wsl, platform.h),
 * path translation both ways between WSL's /mnt/<drive> and Windows drive paths, WSL's
 * networking mode (`wslinfo --networking-mode`, else .wslconfig, else NAT), and the Windows
 * programs k3sforge runs through interop. Nothing here prints. */
#ifndef K3SFORGE_PLATFORM_WSL_H
#define K3SFORGE_PLATFORM_WSL_H

#include "k3sforge/err.h"
#include "k3sforge/platform.h"

/* Windows programs as WSL interop sees them (run with the working directory KF_WIN_CWD: they
 * complain about a UNC one). cmd.exe is found on the interop PATH. */
#define KF_WIN_SYSTEM32 "/mnt/c/Windows/System32"
#define KF_WIN_REG_EXE KF_WIN_SYSTEM32 "/reg.exe"
#define KF_WIN_NET_EXE KF_WIN_SYSTEM32 "/net.exe"
#define KF_WIN_NETSH_EXE KF_WIN_SYSTEM32 "/netsh.exe"
#define KF_WIN_CMD_EXE "cmd.exe"
#define KF_WIN_CWD "/mnt/c"
/* The Windows users' profile folders, where each one's .wslconfig lives. */
#define KF_WIN_USERS_DIR "/mnt/c/Users"
/* WSL's own tool (WSL 2.0 and later), found on PATH. */
#define KF_WSLINFO "wslinfo"

/* wslpath -w semantics: /mnt/<drive>/rest → <DRIVE>:\rest (slashes turned to backslashes).
 * A path inside the WSL file system has no Windows drive path: KF_EUNSUPPORTED, saying so. */
int kf_wsl_to_windows(char **out, const char *path, struct kf_err *err);
/* The other way: C:\Users\op (or C:/Users/op) → /mnt/c/Users/op (caller frees); NULL when win
 * is not a drive path, or out of memory. */
char *kf_windows_to_wsl(const char *win);
/* The Windows user's profile folder (%USERPROFILE%, asked of cmd.exe) as a WSL path (caller
 * frees). K3SFORGE_WINDOWS_HOME in the environment overrides it. KF_EUNSUPPORTED off WSL. */
int kf_wsl_windows_home(char **out, struct kf_err *err);

enum kf_wsl_netmode {
	KF_WSL_NONE = 0,     /* not WSL */
	KF_WSL_NAT,          /* WSL2 NAT (the default): a port proxy is needed */
	KF_WSL_MIRRORED,     /* networkingMode=mirrored: WSL shares Windows' addresses */
};

/* The networkingMode value of a .wslconfig's [wsl2] section (caller frees), or NULL when the
 * file does not set one. */
char *kf_wslconfig_networking_mode(const char *text);
/* Parses `wslinfo --networking-mode` output ("nat", "mirrored", ...): mirrored or NAT. */
enum kf_wsl_netmode kf_wsl_parse_netmode(const char *text);
/* The first .wslconfig under users_dir (<users_dir>/<user>/.wslconfig, in directory order)
 * that sets networkingMode: *mode gets the value and *path the file (caller frees both); both
 * NULL when none does. */
void kf_wslconfig_find(const char *users_dir, char **mode, char **path);
/* What WSL runs with: wslinfo_out is what `wslinfo --networking-mode` printed (NULL when it could
 * not be asked: WSL before 2.0), wslconfig_mode the .wslconfig value (NULL when unset). wslinfo
 * wins, since it reports the running VM while .wslconfig may have changed without
 * `wsl --shutdown`; then .wslconfig; then NAT, WSL's default. */
enum kf_wsl_netmode kf_wsl_netmode_decide(const char *wslinfo_out, const char *wslconfig_mode);
/* This host's WSL networking mode: KF_WSL_NONE off WSL; else kf_wsl_netmode_decide over
 * `wslinfo --networking-mode` and the .wslconfig files under KF_WIN_USERS_DIR. *source (may be
 * NULL; caller frees) says where the answer came from: "wslinfo --networking-mode", the
 * .wslconfig's path, or NULL for WSL's default. */
enum kf_wsl_netmode kf_wsl_networking_mode(char **source);

#endif
