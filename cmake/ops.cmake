# zlib for `k3sforge doctor --bundle` (a .tar.gz bug-report archive, src/ops/doctor_bundle.c).
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
target_link_libraries(k3sforge_lib PUBLIC PkgConfig::ZLIB)
