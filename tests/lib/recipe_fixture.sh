# shellcheck shell=bash
# Sourced by the recipe and ISO tests: makes an output directory in the shape prep leaves it
# (docs/layout.md) with the real CLIs (ssh-keygen, openssl), and the payload artifacts from the
# test doubles in tests/fakes/recipe/ (no real k3s exists here).
# recipe_fixture OUT [NODE...]
recipe_fixture() {
	local out=$1 n
	shift
	mkdir -p "$out"/{pki,ssh/host,secrets,artifacts}
	openssl req -x509 -newkey ed25519 -nodes -days 30 -subj "/CN=k3sforge test CA" \
		-keyout "$out/pki/ca.key" -out "$out/pki/ca.crt" 2>/dev/null
	ssh-keygen -q -t ed25519 -N '' -C operator@k3sforge -f "$out/ssh/id_ed25519"
	for n in "$@"; do
		ssh-keygen -q -t ed25519 -N '' -C "$n" -f "$out/ssh/host/${n}_ed25519"
	done
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/secrets/k3s-token"
	printf 'Adm1n-%s\n' "$(head -c 9 /dev/urandom | base64)" >"$out/secrets/admin-password"
	cat >"$out/registries.yaml" <<'YAML'
mirrors:
  docker.io:
    endpoint:
      - "https://192.168.6.1:5000"
  registry.k8s.io:
    endpoint:
      - "https://192.168.6.1:5000"
configs:
  "192.168.6.1:5000":
    tls:
      ca_file: /usr/local/share/ca-certificates/k3sforge-ca.crt
YAML
	install -m 0755 "$KF_SOURCE_DIR/tests/fakes/k3s" "$out/artifacts/k3s"
	install -m 0755 "$KF_SOURCE_DIR/tests/fakes/recipe/install.sh" "$out/artifacts/install.sh"
	# a real tar.zst (of random bytes: only its integrity and format matter to the recipe)
	mkdir -p "$out/.airgap"
	head -c 200000 /dev/urandom >"$out/.airgap/layer.bin"
	tar -C "$out/.airgap" -cf - layer.bin | zstd -q -o "$out/artifacts/k3s-airgap-images-amd64.tar.zst"
	rm -rf "$out/.airgap"
	cat >"$out/artifacts/k3s-images.txt" <<'LIST'
docker.io/rancher/klipper-helm:v0.9.8-build20250709
docker.io/rancher/klipper-lb:v0.4.13
docker.io/rancher/local-path-provisioner:v0.0.31
docker.io/rancher/mirrored-coredns-coredns:1.12.3
docker.io/rancher/mirrored-library-busybox:1.36.1
docker.io/rancher/mirrored-library-traefik:3.3.6
docker.io/rancher/mirrored-metrics-server:v0.8.0
docker.io/rancher/mirrored-pause:3.6
LIST
	mkdir -p "$out/.chart/ks-core"
	printf 'apiVersion: v2\nname: ks-core\nversion: 1.1.4\n' >"$out/.chart/ks-core/Chart.yaml"
	tar -C "$out/.chart" -czf "$out/artifacts/ks-core-1.1.4.tgz" ks-core
	rm -rf "$out/.chart"
}
