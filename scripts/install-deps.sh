#!/usr/bin/env bash
# Installs everything k3sforge needs to build and to run its whole test suite on Debian 12.
# Run as root (or with sudo). Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pkgs=(
  # build
  build-essential cmake pkg-config
  libcurl4-openssl-dev libssh2-1-dev libssl-dev libyaml-dev libjansson-dev libisoburn-dev
  libcmocka-dev zlib1g-dev
  # tests: real parts
  openssh-server openssh-client   # a real sshd per simulated node
  libnss-wrapper                  # e2e: the simulated guests' user, seen by sshd only
  docker-registry                 # CNCF distribution registry
  xorriso mtools grub-pc-bin grub-efi-amd64-bin grub-common  # ISOs read back / fixture ISOs
  cloud-init python3-jsonschema python3-yaml                 # user-data schema validation
  shellcheck qemu-utils socat curl skopeo zstd tar time
  util-linux python3 openssl      # flock, test servers, fault proxy, JSON checks, test CAs
  qemu-system-x86 ovmf            # boot the remastered installer fixture (BIOS + UEFI)
  mmdebstrap e2fsprogs            # guest tier: the Debian 12 test guest image (tests/guest/lib/image.sh)
  # sanitizers and fuzzing
  clang libclang-rt-14-dev
)
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${pkgs[@]}"
# kubectl checks merged kubeconfigs; keep an existing one (another package may own /usr/bin/kubectl).
if ! command -v kubectl >/dev/null 2>&1; then
  $SUDO apt-get install -y --no-install-recommends kubernetes-client
fi
