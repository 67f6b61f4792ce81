# libisoburn's xorriso API for remastering the installer ISO and writing the seed ISOs
# (src/iso/). Licence: GPLv2+ (libisoburn), which makes the linked k3sforge binary GPLv2+.
pkg_check_modules(ISOBURN REQUIRED IMPORTED_TARGET libisoburn-1)
target_link_libraries(k3sforge_lib PUBLIC PkgConfig::ISOBURN)
