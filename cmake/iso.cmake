# libisoburn's xorriso API for remastering the installer ISO, libisofs (which libisoburn is
# built on) for writing the seed and payload ISOs without an xorriso session (src/iso/).
# Licence: GPLv2+ (libisoburn, libisofs), which makes the linked k3sforge binary GPLv2+.
pkg_check_modules(ISOBURN REQUIRED IMPORTED_TARGET libisoburn-1)
pkg_check_modules(ISOFS REQUIRED IMPORTED_TARGET libisofs-1)
target_link_libraries(k3sforge_lib PUBLIC PkgConfig::ISOBURN PkgConfig::ISOFS)
