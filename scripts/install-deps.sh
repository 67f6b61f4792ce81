#!/usr/bin/env bash
# Installs what k3sforge needs on Debian 12, Ubuntu 22.04 or Ubuntu 24.04 (the default WSL
# distributions). Run as root (or with sudo). Idempotent.
#
#   scripts/install-deps.sh          to build and run k3sforge (and make its .deb with cpack)
#   scripts/install-deps.sh --test   the same plus everything its whole test suite runs
#
# Package names are the same in all three unless noted below. Ubuntu: docker-registry, mmdebstrap,
# skopeo, libnss-wrapper and the test tools are in "universe", on by default in the WSL images.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

with_tests=false
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=true ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps.sh: unknown argument '$arg' (--test adds the test packages)" >&2; exit 2 ;;
  esac
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

build_pkgs=(
  build-essential cmake pkg-config git   # git: the commit in `k3sforge --version`
  libcurl4-openssl-dev libssh2-1-dev libssl-dev libyaml-dev libjansson-dev libisoburn-dev libisofs-dev
  zlib1g-dev
  dpkg-dev                        # cpack -G DEB: dpkg-shlibdeps computes the package's Depends
)
run_pkgs=(
  docker-registry                 # the lab registry k3sforge starts (registry.mode: binary)
)
test_pkgs=(
  libcmocka-dev
  # tests: real parts
  openssh-server openssh-client   # a real sshd per simulated node
  libnss-wrapper                  # e2e: the simulated guests' user, seen by sshd only
  xorriso mtools grub-pc-bin grub-efi-amd64-bin grub-common  # ISOs read back / fixture ISOs
  cloud-init python3-jsonschema python3-yaml                 # user-data schema validation
  shellcheck qemu-utils socat curl skopeo zstd tar time
  util-linux python3 openssl      # flock, test servers, fault proxy, JSON checks, test CAs
  qemu-system-x86 ovmf            # boot the remastered installer fixture (BIOS + UEFI)
  mmdebstrap e2fsprogs            # guest tier: the Debian 12 test guest image (tests/guest/lib/image.sh)
  fdisk                           # guest tier: sfdisk for the bootable image disk (lib/disk.sh)
  zsh fish man-db                 # the generated completions parse (zsh -n, fish -n), man -l
  # sanitizers and fuzzing
  clang
)

pkgs=("${build_pkgs[@]}" "${run_pkgs[@]}")
$with_tests && pkgs+=("${test_pkgs[@]}")
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${pkgs[@]}"

if $with_tests; then
  # libFuzzer and the sanitizer runtimes of the default clang: libclang-rt-N-dev where the
  # archive splits them out (Debian 12: 14, Ubuntu 24.04: 18); Ubuntu 22.04's clang 14 has them
  # in libclang-common-14-dev, which clang already pulls in.
  clang_major=$(clang -dumpversion | cut -d. -f1)
  if apt-cache show "libclang-rt-${clang_major}-dev" >/dev/null 2>&1; then
    $SUDO apt-get install -y --no-install-recommends "libclang-rt-${clang_major}-dev"
  fi
  # kubectl checks merged kubeconfigs; keep an existing one (another package may own
  # /usr/bin/kubectl). Debian's kubernetes-client; Ubuntu has no such package (snap's kubectl).
  if ! command -v kubectl >/dev/null 2>&1; then
    if apt-cache show kubernetes-client >/dev/null 2>&1; then
      $SUDO apt-get install -y --no-install-recommends kubernetes-client
    else
      echo "install-deps.sh: no kubectl in the archive; install it (e.g. snap install kubectl --classic)" >&2
    fi
  fi
fi
