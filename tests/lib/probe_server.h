/* A helper server on a loopback address of its own (127.x.y.z), for the tests that probe one:
 * the KubeSphere console stand-in (tests/fakes/e2e/console), the k3s API stand-in
 * (tests/lib/tls_version_server.py). A free port on that address, the server started by
 * kf_proc and waited for until it accepts. */
#ifndef KF_TEST_PROBE_SERVER_H
#define KF_TEST_PROBE_SERVER_H

/* A TCP port free on ip right now (fails the test when none can be bound). */
int probe_free_port(const char *ip);
/* Starts argv (its output to log: a path, or "/dev/null") and waits up to 5 s until ip:port
 * accepts. Returns the pid (fails the test when it does not start); stop it with
 * kf_proc_stop(pid, 2000). */
long probe_server_start(const char *const *argv, const char *log, const char *ip, int port);

#endif
