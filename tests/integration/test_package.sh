#!/usr/bin/env bash
# Installing without building: `cmake --install` lays out the binary, the man page, the bash, zsh
# and fish completions, the docs and the examples where Debian's tools look for them; `cpack`
# makes a .deb whose Depends name the shared libraries the binary links (dpkg-shlibdeps) and
# whose Recommends name the registry it starts; the .deb installs with a real `dpkg -i` on this
# machine, `k3sforge --version` and `man` work from it, and `dpkg --purge` removes it again — on every
# way out of this script. Needs root (dpkg) and dpkg-dev (cpack's shlibdeps).
set -uo pipefail
# shellcheck disable=SC2015

BIN=${K3SFORGE_BIN:?K3SFORGE_BIN must point at the k3sforge binary}
BUILD=${KF_BUILD_DIR:?KF_BUILD_DIR must point at the build directory}
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_scratch kf_test_package
T=$H_SCRATCH
INSTALLED_HERE=false
cleanup() {
	trap '' INT TERM HUP # a second signal must not stop the removal
	if $INSTALLED_HERE; then
		dpkg_locked --purge k3sforge >"$T/remove.log" 2>&1 || cat "$T/remove.log" >&2
	fi
}
h_on_exit cleanup
trap 'exit 130' INT TERM HUP
cd "$T" || exit 1

# dpkg ARGS..., waiting up to 60 s while another apt/dpkg holds the lock (a shared machine).
dpkg_locked() {
	local i out rc
	for ((i = 0; i < 60; i++)); do
		out=$(dpkg "$@" 2>&1)
		rc=$?
		if [[ $rc != 0 && $out == *"lock"* ]]; then
			sleep 1
			continue
		fi
		printf '%s\n' "$out"
		return $rc
	done
	printf '%s\n' "$out"
	return 1
}

PATHS=(
	usr/bin/k3sforge
	usr/share/man/man1/k3sforge.1
	usr/share/bash-completion/completions/k3sforge
	usr/share/zsh/vendor-completions/_k3sforge
	usr/share/fish/vendor_completions.d/k3sforge.fish
	usr/share/doc/k3sforge/README.md
	usr/share/doc/k3sforge/cli.md
	usr/share/doc/k3sforge/k3sforge.ps1
	usr/share/doc/k3sforge/examples/lab.yaml
	usr/share/doc/k3sforge/examples/images.txt
)

test_cmake_install_lays_out_every_file() {
	begin test_cmake_install_lays_out_every_file
	DESTDIR="$T/root" cmake --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1 ||
		{ fail "cmake --install: $(tail -3 "$T/install.log")"; return; }
	for p in "${PATHS[@]}"; do
		[[ -s $T/root/$p ]] || { fail "$p not installed"; return; }
	done
	[[ -x $T/root/usr/bin/k3sforge ]] || { fail "binary not executable"; return; }
	"$T/root/usr/bin/k3sforge" completion bash | cmp -s - "$T/root/usr/share/bash-completion/completions/k3sforge" ||
		{ fail "installed bash completion is not the binary's"; return; }
	pass
}

test_deb_declares_its_dependencies() {
	begin test_deb_declares_its_dependencies
	command -v dpkg-shlibdeps >/dev/null || { fail "dpkg-shlibdeps missing (dpkg-dev)"; return; }
	cpack --config "$BUILD/CPackConfig.cmake" -B "$T/pkg" >"$T/cpack.log" 2>&1 ||
		{ fail "cpack: $(tail -5 "$T/cpack.log")"; return; }
	DEB=$(ls "$T"/pkg/k3sforge_*.deb 2>/dev/null | head -1)
	[[ -n $DEB ]] || { fail "no .deb in $T/pkg"; return; }
	[[ $(basename "$DEB") == k3sforge_0.2.0_amd64.deb || $(basename "$DEB") == k3sforge_0.2.0_*.deb ]] ||
		{ fail "name $(basename "$DEB")"; return; }
	local dep rec
	dep=$(dpkg-deb -f "$DEB" Depends)
	for lib in libcurl4 libssh2-1 libssl3 libyaml-0-2 libjansson4 libisoburn1 libc6 zlib1g; do
		[[ ", $dep" == *", $lib "* || ", $dep" == *", $lib,"* || ", $dep" == *", $lib" ]] ||
			{ fail "Depends lacks $lib: $dep"; return; }
	done
	# the options set at run time need libcurl 7.77 (CURLOPT_CAINFO_BLOB), more than symbols tell
	[[ $dep =~ libcurl4(t64)?\ \(\>=\ 7\.77\.0\) ]] || { fail "Depends lacks libcurl >= 7.77.0: $dep"; return; }
	rec=$(dpkg-deb -f "$DEB" Recommends)
	[[ $rec == *docker-registry* ]] || { fail "Recommends: $rec"; return; }
	dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./||' >"$T/contents"
	for p in "${PATHS[@]}"; do
		grep -qxF "$p" "$T/contents" || { fail "$p not in the package"; return; }
	done
	pass
}

test_deb_installs_runs_and_removes() {
	begin test_deb_installs_runs_and_removes
	[[ -n ${DEB:-} ]] || { fail "no package built"; return; }
	[[ $(id -u) == 0 ]] || { fail "dpkg -i needs root"; return; }
	if dpkg -s k3sforge >/dev/null 2>&1; then
		fail "a k3sforge package is installed already: left alone, not tested over it"
		return
	fi
	INSTALLED_HERE=true
	dpkg_locked -i "$DEB" >"$T/dpkg.log" 2>&1 || { fail "dpkg -i: $(tail -5 "$T/dpkg.log")"; return; }
	local v
	v=$(/usr/bin/k3sforge --version) || { fail "installed k3sforge --version failed"; return; }
	[[ $v == "$("$BIN" --version)" ]] || { fail "installed says '$v'"; return; }
	[[ $(man -w k3sforge 2>/dev/null) == /usr/share/man/man1/k3sforge.1* ]] ||
		{ fail "man -w k3sforge: $(man -w k3sforge 2>&1)"; return; }
	MANWIDTH=80 man k3sforge 2>/dev/null | grep '^   completion$' >/dev/null || { fail "man k3sforge"; return; }
	dpkg_locked --purge k3sforge >"$T/remove.log" 2>&1 || { fail "dpkg --purge: $(tail -3 "$T/remove.log")"; return; }
	INSTALLED_HERE=false
	[[ ! -e /usr/bin/k3sforge && ! -e /usr/share/man/man1/k3sforge.1 ]] ||
		{ fail "files left after dpkg --purge"; return; }
	pass
}

test_cmake_install_lays_out_every_file
test_deb_declares_its_dependencies
test_deb_installs_runs_and_removes

h_summary
