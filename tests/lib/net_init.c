/* Every test binary initialises libcurl and libssh2 once before main() (and any thread), the way
 * src/main.c does for k3sforge, and cleans them up at exit. Linked into every test through
 * kf_testlib (tests/CMakeLists.txt forces this object in with -u kf_testlib_net_init). */
#include <curl/curl.h>
#include <libssh2.h>
#include <stdio.h>
#include <stdlib.h>

int kf_testlib_net_init;

__attribute__((constructor)) static void net_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || libssh2_init(0) != 0) {
		fprintf(stderr, "tests: cannot initialise libcurl/libssh2\n");
		abort();
	}
	kf_testlib_net_init = 1;
}

__attribute__((destructor)) static void net_exit(void)
{
	libssh2_exit();
	curl_global_cleanup();
}
