/* Test fixture: a real OpenSSH sshd on a loopback address (each simulated node its own
 * 127.0.0.x), with a given host key and authorized key, stopped by its pid. */
#ifndef KF_TEST_SSHD_FIXTURE_H
#define KF_TEST_SSHD_FIXTURE_H

struct kf_test_sshd {
	long pid;
	char dir[512];
	char ip[64];
	int port;
	char log[600];
	char config[600];
};

/* Returns a free TCP port on ip (bound then released). */
int kf_test_free_port(const char *ip);
/* Makes a fresh temp dir (caller frees). */
char *kf_test_tempdir(const char *tag);
/* Runs argv, returns its exit status (-1 if it could not run); output discarded unless out. */
int kf_test_run(const char *const *argv, char **out);
/* Generates an ed25519 key pair with ssh-keygen at path (+ .pub). 0 on success. */
int kf_test_keygen(const char *path, const char *type);
/* Starts sshd in dir (created), listening on ip:port (port 0 = pick one), presenting the given
 * host key files (NULL-terminated list), accepting the keys in authorized_keys (a file path).
 * Waits until it accepts connections. 0 on success. */
int kf_test_sshd_start(struct kf_test_sshd *s, const char *dir, const char *ip, int port,
		       const char *const *host_keys, const char *authorized_keys);
/* Same, with extra sshd_config lines (e.g. "ForceCommand ..."). */
int kf_test_sshd_start_ex(struct kf_test_sshd *s, const char *dir, const char *ip, int port,
			  const char *const *host_keys, const char *authorized_keys,
			  const char *extra_config);
/* Stops it by pid (SIGTERM then SIGKILL). Safe to call twice. */
void kf_test_sshd_stop(struct kf_test_sshd *s);
/* The user tests log in as (the current user). */
const char *kf_test_user(void);

#endif
