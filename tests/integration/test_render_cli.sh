#!/usr/bin/env bash
# `k3sforge render` and `k3sforge build-iso` from the command line: what they print and write,
# and what they say when prep's outputs are missing. Inputs from recipe_fixture.sh; the lab
# defaults (no k3sforge.yaml in the work dir).
set -uo pipefail
: "${K3SFORGE_BIN:?}" "${KF_SOURCE_DIR:?}"
# shellcheck source=tests/lib/recipe_fixture.sh
source "$KF_SOURCE_DIR/tests/lib/recipe_fixture.sh"
# shellcheck source=tests/lib/iso_fixture.sh
source "$KF_SOURCE_DIR/tests/lib/iso_fixture.sh"

# shellcheck source=tests/lib/harness.sh
. "$KF_SOURCE_DIR/tests/lib/harness.sh"
h_scratch kfcli
work=$H_SCRATCH
cd "$work" || exit 1
recipe_fixture out k3s-master1 k3s-worker1 k3s-worker2

test_render_prints_every_file_of_one_node() {
	local out
	out=$("$K3SFORGE_BIN" -o out render --node k3s-worker1) || return 1
	for f in autoinstall-user-data user-data meta-data network-config; do
		grep -qx "# ==> k3s-worker1/$f <==" <<<"$out" || { echo "no $f"; return 1; }
	done
	! grep -q "k3s-master1/" <<<"$out" || { echo "printed another node"; return 1; }
	grep -q 'local-hostname: "k3s-worker1"' <<<"$out"
}

test_render_json_gives_one_object_per_file() {
	local out
	out=$("$K3SFORGE_BIN" --json -o out render --node k3s-master1 2>/dev/null) || return 1
	python3 - "$out" <<'PY'
import json, sys
objs = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
files = [o for o in objs if o.get("type") == "render"]
assert [o["file"] for o in files] == ["autoinstall-user-data", "user-data", "meta-data",
                                      "network-config"], files
assert all(o["node"] == "k3s-master1" for o in files)
assert files[1]["content"].startswith("#cloud-config\n")
assert "***" not in files[1]["content"]  # the files are not masked like log events
PY
}

test_render_seed_dir_writes_the_installed_system_seed() {
	"$K3SFORGE_BIN" -o out render --seed-dir seeds || return 1
	for n in k3s-master1 k3s-worker1 k3s-worker2; do
		for f in user-data meta-data network-config; do
			[ -f "seeds/$n/$f" ] || { echo "missing seeds/$n/$f"; return 1; }
			[ "$(stat -c %a "seeds/$n/$f")" = 600 ] || { echo "seeds/$n/$f not 0600"; return 1; }
		done
		head -n 1 "seeds/$n/user-data" | grep -qx '#cloud-config' || return 1
		! grep -q '^autoinstall:' "seeds/$n/user-data" || { echo "$n: seed is the installer's"; return 1; }
		cloud-init schema --config-file "seeds/$n/user-data" >/dev/null || return 1
	done
}

test_render_payload_dir_is_what_the_installer_copies() {
	local out
	"$K3SFORGE_BIN" -o out render --seed-dir seeds2 --payload-dir payload >/dev/null 2>&1 || return 1
	out=$(cd payload && sha256sum -c SHA256SUMS) || { echo "$out"; return 1; }
	for f in k3s install.sh k3s-airgap-images-amd64.tar.zst k3s-images.txt ca.crt ks-core-1.1.4.tgz; do
		grep -qx "$f: OK" <<<"$out" || { echo "$f not verified"; return 1; }
	done
	if [ ! -x payload/k3s ] || [ ! -x payload/install.sh ]; then
		echo "not executable"
		return 1
	fi
	# the clock floor of sync-time, also in the payload
	grep -q "BUILD_TS=$(cat payload/build-timestamp)\$" seeds2/k3s-master1/user-data
}

test_render_uses_templates_from_k3sforge_templates() {
	local out
	cp -r "$KF_SOURCE_DIR/templates" mytemplates
	printf 'cluster: {{cluster_name}}\n' >>mytemplates/meta-data.yaml
	out=$(K3SFORGE_TEMPLATES="$work/mytemplates" "$K3SFORGE_BIN" -o out render --node k3s-master1) || return 1
	grep -qx "cluster: lab" <<<"$out" || { echo "edited template not used"; return 1; }
	# a broken template names itself and its line
	printf '{{#if x}}\n' >>mytemplates/meta-data.yaml
	out=$(K3SFORGE_TEMPLATES="$work/mytemplates" "$K3SFORGE_BIN" -o out render 2>&1) && return 1
	grep -q "mytemplates/meta-data.yaml:4: block is never closed" <<<"$out" || { echo "$out"; return 1; }
}

test_render_copied_binary_needs_no_source_tree() {
	local want got n
	mkdir -p bincopy elsewhere
	cp "$K3SFORGE_BIN" bincopy/k3sforge || return 1
	# nothing points into the source tree's templates/
	n=$(grep -acF "$KF_SOURCE_DIR/templates" bincopy/k3sforge)
	[ "$n" -eq 0 ] || { echo "the binary names $KF_SOURCE_DIR/templates ($n lines)"; return 1; }
	want=$(K3SFORGE_TEMPLATES="$KF_SOURCE_DIR/templates" "$K3SFORGE_BIN" -o out render) || return 1
	grep -qx "# ==> k3s-worker2/network-config <==" <<<"$want" || { echo "$want"; return 1; }
	# the copy, run from another directory without K3SFORGE_TEMPLATES, with the source tree's
	# templates/ hidden under an empty tmpfs in a private mount namespace
	# shellcheck disable=SC2016
	got=$(cd elsewhere && env -u K3SFORGE_TEMPLATES unshare -m sh -c \
		'mount -t tmpfs kf-hidden "$1" && [ -z "$(ls -A "$1")" ] && shift && exec "$@"' sh \
		"$KF_SOURCE_DIR/templates" "$work/bincopy/k3sforge" -o "$work/out" render) || return 1
	[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got") | head -20; return 1; }
}

test_render_unknown_node_is_a_usage_error() {
	local rc=0 out
	out=$("$K3SFORGE_BIN" -o out render --node nope 2>&1) || rc=$?
	[ "$rc" -eq 2 ] && grep -q "no such node" <<<"$out"
}

test_render_without_prep_says_run_prep() {
	local rc=0 out
	mkdir -p empty
	out=$("$K3SFORGE_BIN" -o empty render 2>&1) || rc=$?
	[ "$rc" -ne 0 ] && grep -qF "pki/ca.crt is missing: run \`k3sforge prep\` first" <<<"$out"
}

test_build_iso_cli_builds_then_does_nothing() {
	local out
	ubuntu_like_iso "$work/ubuntu.iso" "$work/isowork" || return 1
	out=$("$K3SFORGE_BIN" -o out build-iso --ubuntu-iso "$work/ubuntu.iso" 2>&1) || { echo "$out"; return 1; }
	[ -f out/iso/installer.iso ] && [ -f out/iso/seed-k3s-worker2.iso ] || return 1
	[ -f out/render/k3s-master1/autoinstall-user-data ] || return 1
	out=$("$K3SFORGE_BIN" -o out build-iso --ubuntu-iso "$work/ubuntu.iso" 2>&1) || { echo "$out"; return 1; }
	grep -q "nothing to do" <<<"$out" || { echo "$out"; return 1; }
}

test_build_iso_cli_refuses_non_ubuntu_iso() {
	local rc=0 out
	plain_iso "$work/plain.iso" "$work/plainwork" || return 1
	out=$("$K3SFORGE_BIN" -o out build-iso --force --ubuntu-iso "$work/plain.iso" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] && grep -q "is not an Ubuntu live-server ISO" <<<"$out"
}

check test_render_prints_every_file_of_one_node
check test_render_json_gives_one_object_per_file
check test_render_seed_dir_writes_the_installed_system_seed
check test_render_payload_dir_is_what_the_installer_copies
check test_render_uses_templates_from_k3sforge_templates
check test_render_copied_binary_needs_no_source_tree
check test_render_unknown_node_is_a_usage_error
check test_render_without_prep_says_run_prep
check test_build_iso_cli_builds_then_does_nothing
check test_build_iso_cli_refuses_non_ubuntu_iso
h_summary
