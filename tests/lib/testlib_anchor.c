/* Keeps kf_testlib non-empty before any helper lands. */
int kf_testlib_anchor;
