# shellcheck shell=bash
# A whole lab on loopback for `k3sforge up` end to end (sourced by
# tests/integration/test_up_e2e.sh and bench/orchestrate.sh). Nothing here reaches beyond
# 127.0.0.0/8, and every process it starts is recorded and stopped by PID in e2e_lab_teardown.
#
#   e2e_lab_setup WORK N [DELAY...]   N nodes (k3s-master1, k3s-worker1..), node i's markers
#                                     appearing DELAY_i seconds after its power-on (default 1)
#   e2e_lab_teardown                  stops every process the lab and k3sforge's prep started
#   e2e_kf ARGS...                    runs k3sforge on the lab (-c $E2E_CFG -o $E2E_OUT)
#   e2e_set_guest NODE KEY VALUE      changes a guest.env setting (takes effect at its next start)
#
# What it builds, under WORK:
#   www/ + a file server (tests/lib/download_fileserver.py) serving a FAKE k3s release
#     (random k3s binary and airgap tarball, k3s-images.txt naming the synthetic images,
#     sha256sum-amd64.txt) and install.sh, pinned by its sha256 in the config;
#   srcreg/ + a plain-HTTP docker-registry on 127.0.0.1 holding tiny synthetic images
#     (tests/lib/e2e_push_images.py), the config's images.source_registry;
#   ubuntu.iso: an ISO in Ubuntu 22.04's shape (tests/lib/iso_fixture.sh), or
#     $E2E_ISO when set (bench reuse);
#   api/: a CA, the API server certificate for the master's IP, a client certificate; the master's
#     /etc/rancher/k3s/k3s.yaml carries them, and tests/lib/tls_version_server.py answers
#     GET /version on <master ip>:6443 demanding that client certificate;
#   guests/<node>/: guest.env and root/ (bin/ with the k3s double tests/fakes/k3s and
#     sudo, journalctl, cloud-init stand-ins; var/lib; etc/rancher; fake-k3s/ cluster view);
#   www/ks-core-1.1.4.tgz + the KubeSphere images in the source registry, and a stand-in console
#     (python3 http.server) on <master>:30880, unless E2E_KUBESPHERE=0;
#   lab.yaml: network 127.S.T.0/24 (S.T picked at random with <master>:6443 free, so parallel
#     runs on a shared host do not collide), registry at 127.S.T.1:<free port>, nodes at
#     127.S.T.10+ each reached at <its ip>:<free port>, KubeSphere on, vmrun = the test double,
#     short timeouts;
#   kube/config: a user kubeconfig with another context, $KUBECONFIG for k3sforge.
# Power-on of a VM through the vmrun double runs tests/lib/e2e_guest.sh start (the simulated
# guest), power-off runs e2e_guest.sh stop.

E2E_TESTS=${KF_SOURCE_DIR:?KF_SOURCE_DIR not set}/tests
E2E_BIN=${K3SFORGE_BIN:?K3SFORGE_BIN not set}
E2E_VERSION=v1.33.4+k3s1
E2E_IMAGES=(docker.io/rancher/mirrored-pause:3.6 docker.io/rancher/mirrored-coredns-coredns:1.12.3
	docker.io/rancher/local-path-provisioner:v0.0.31)
E2E_NODES=()
# KubeSphere on (the default product configuration) unless E2E_KUBESPHERE=0: its ks-core chart is
# served by the file server, its images are in the source registry, the k3s stand-in lists its
# pods, and a stand-in console on <master>:30880 (ks-console v4.1.3 without a session: / is a
# 302 to /login, /login is 200; tests/fakes/e2e/console).
E2E_KUBESPHERE=${E2E_KUBESPHERE:-1}
E2E_KS_IMAGES=(docker.io/kubesphere/ks-apiserver:v4.1.3 docker.io/kubesphere/ks-console:v4.1.3
	docker.io/kubesphere/ks-controller-manager:v4.1.3 docker.io/kubesphere/kubectl:v1.27.16
	docker.io/kubesphere/ks-extensions-museum:v1.1.3)

e2e_log() { echo "e2e: $*" >&2; }

# A TCP port free on IP right now.
e2e_free_port() {
	python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}

# Is IP:PORT free to bind?
e2e_port_free() {
	python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],int(sys.argv[2])))' "$1" "$2" 2>/dev/null
}

# Runs a server in its own session, records its pid under WORK/pids/NAME.pid.
e2e_spawn() { # name logfile argv...
	local name=$1 log=$2
	shift 2
	setsid "$@" </dev/null >>"$log" 2>&1 &
	echo $! >"$E2E_WORK/pids/$name.pid"
}

# shellcheck source=tests/lib/pids.sh
. "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
e2e_stop_pidfile() { h_stop_pidfile "$1" 3; }

e2e_wait_http() { # url
	for _ in $(seq 200); do
		curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	e2e_log "nothing answered at $1"
	return 1
}

e2e_pick_net() {
	local s t
	for _ in $(seq 50); do
		s=$((RANDOM % 150 + 100)) t=$((RANDOM % 250 + 1))
		if e2e_port_free "127.$s.$t.10" 6443 && e2e_port_free "127.$s.$t.10" 30880 &&
			e2e_port_free "127.$s.$t.1" 0; then
			E2E_NET="127.$s.$t"
			return 0
		fi
	done
	e2e_log "no free 127.x.y.0/24 found"
	return 1
}

e2e_release() {
	local rel="$E2E_WORK/www/k3s/$E2E_VERSION" img
	mkdir -p "$rel"
	head -c 1048593 /dev/urandom >"$rel/k3s"
	head -c 2097157 /dev/urandom >"$rel/k3s-airgap-images-amd64.tar.zst"
	: >"$rel/k3s-images.txt"
	for img in "${E2E_IMAGES[@]}"; do echo "$img" >>"$rel/k3s-images.txt"; done
	(cd "$rel" && sha256sum k3s k3s-airgap-images-amd64.tar.zst k3s-images.txt >sha256sum-amd64.txt)
	printf '#!/bin/sh\n# fake k3s install script (tests)\necho installing k3s\n' >"$E2E_WORK/www/install.sh"
	E2E_INSTALL_SHA=$(sha256sum "$E2E_WORK/www/install.sh" | cut -d' ' -f1)
	# A chart-shaped ks-core tarball (Chart.yaml + values.yaml).
	mkdir -p "$E2E_WORK/chart/ks-core"
	printf 'apiVersion: v2\nname: ks-core\nversion: 1.1.4\nappVersion: v4.1.3\n' \
		>"$E2E_WORK/chart/ks-core/Chart.yaml"
	printf 'global:\n  imageRegistry: docker.io\n' >"$E2E_WORK/chart/ks-core/values.yaml"
	tar -C "$E2E_WORK/chart" -czf "$E2E_WORK/www/ks-core-1.1.4.tgz" ks-core
	E2E_CHART_SHA=$(sha256sum "$E2E_WORK/www/ks-core-1.1.4.tgz" | cut -d' ' -f1)
}

e2e_source_registry() {
	local dir="$E2E_WORK/srcreg" refs=() img
	E2E_SRC_PORT=$(e2e_free_port 127.0.0.1)
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$E2E_SRC_PORT
EOF
	e2e_spawn srcreg "$dir/registry.log" docker-registry serve "$dir/config.yml"
	e2e_wait_http "http://127.0.0.1:$E2E_SRC_PORT/v2/" || return 1
	for img in "${E2E_IMAGES[@]}"; do refs+=("${img#docker.io/}"); done
	if [ "$E2E_KUBESPHERE" = 1 ]; then
		for img in "${E2E_KS_IMAGES[@]}"; do refs+=("${img#docker.io/}"); done
	fi
	python3 "$E2E_TESTS/lib/e2e_push_images.py" "127.0.0.1:$E2E_SRC_PORT" "${refs[@]}"
}

e2e_fileserver() {
	e2e_spawn fileserver "$E2E_WORK/fileserver.log" python3 -u "$E2E_TESTS/lib/download_fileserver.py" \
		--root "$E2E_WORK/www" --port-file "$E2E_WORK/fileserver.port" \
		--access-log "$E2E_WORK/fileserver.access" --faults "$E2E_WORK/fileserver.faults"
	echo '{}' >"$E2E_WORK/fileserver.faults"
	for _ in $(seq 200); do
		[ -s "$E2E_WORK/fileserver.port" ] && break
		sleep 0.1
	done
	E2E_FILE_PORT=$(cat "$E2E_WORK/fileserver.port" 2>/dev/null) || { e2e_log "file server did not start"; return 1; }
}

e2e_ssl() { openssl "$@" >/dev/null 2>&1 || { e2e_log "openssl $1 failed"; return 1; }; }

# The k3s API's trust: CA, server certificate for the master IP, admin client certificate, and
# the master's k3s.yaml (as k3s writes it: server 127.0.0.1).
e2e_api_pki() { # master_ip master_root
	local d="$E2E_WORK/api" ip=$1 root=$2
	mkdir -p "$d" "$root/etc/rancher/k3s"
	e2e_ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
		-out "$d/ca.crt" -days 2 -subj "/CN=k3s-server-ca@e2e" || return 1
	e2e_ssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/server.key" \
		-out "$d/server.csr" -subj "/CN=k3s" -addext "subjectAltName=IP:$ip,IP:127.0.0.1" || return 1
	e2e_ssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-out "$d/server.crt" -days 2 -copy_extensions copy || return 1
	e2e_ssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/client.key" \
		-out "$d/client.csr" -subj "/O=system:masters/CN=system:admin" \
		-addext "extendedKeyUsage=clientAuth" || return 1
	e2e_ssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-out "$d/client.crt" -days 2 -copy_extensions copy || return 1
	cat >"$root/etc/rancher/k3s/k3s.yaml" <<EOF
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $(base64 -w0 "$d/ca.crt")
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: $(base64 -w0 "$d/client.crt")
    client-key-data: $(base64 -w0 "$d/client.key")
EOF
	chmod 0600 "$root/etc/rancher/k3s/k3s.yaml" # as k3s writes it: write-kubeconfig-mode "0600"
}

e2e_node_name() { # index
	if [ "$1" -eq 0 ]; then echo k3s-master1; else echo "k3s-worker$1"; fi
}

e2e_guest_root() { # node
	local root="$E2E_WORK/guests/$1/root"
	mkdir -p "$root/bin" "$root/var/lib" "$root/etc/rancher" "$root/fake-k3s"
	ln -sf "$E2E_TESTS/fakes/k3s" "$root/bin/k3s"
	# shellcheck disable=SC2016 # these are the stand-ins' own scripts
	printf '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n' >"$root/bin/sudo"
	# The guest's journal and cloud-init, as the bootstrap leaves them while it runs.
	# shellcheck disable=SC2016
	printf '#!/bin/sh\ncat "$(dirname "$0")/../journal.txt"\n' >"$root/bin/journalctl"
	printf '#!/bin/sh\necho "status: done"\necho "detail: DataSourceNoCloud [seed=/dev/sr1]"\n' \
		>"$root/bin/cloud-init"
	chmod +x "$root/bin/sudo" "$root/bin/journalctl" "$root/bin/cloud-init"
	printf '%s %s[%d]: waiting for the k3s server at https://%s.10:6443\n' "$1" \
		"k3s-bootstrap" 4242 "$E2E_NET" >"$root/journal.txt"
}

e2e_set_guest() { # node key value
	local f="$E2E_WORK/guests/$1/guest.env"
	sed -i "/^$2=/d" "$f"
	printf '%s=%q\n' "$2" "$3" >>"$f"
}

e2e_config() {
	local i n ip
	{
		echo "# k3sforge e2e lab on loopback (tests/lib/e2e_lab.sh)"
		echo "cluster: { name: e2e }"
		echo "k3s:"
		echo "  version: $E2E_VERSION"
		echo "  release_url: http://127.0.0.1:$E2E_FILE_PORT/k3s"
		echo "  install_script_url: http://127.0.0.1:$E2E_FILE_PORT/install.sh"
		echo "  install_script_sha256: $E2E_INSTALL_SHA"
		echo "  pause_image: rancher/mirrored-pause:3.6"
		echo "network:"
		echo "  subnet: $E2E_NET.0/24"
		echo "  gateway: $E2E_NET.1"
		echo "  dns: [$E2E_NET.1]"
		echo "registry:"
		echo "  host_ip: $E2E_NET.1"
		echo "  port: $E2E_REG_PORT"
		echo "  server: binary"
		echo "  listen: $E2E_NET.1:$E2E_REG_PORT"
		echo "  mirrors: [docker.io]"
		echo "nodes:"
		for i in "${!E2E_NODES[@]}"; do
			n=${E2E_NODES[$i]} ip="$E2E_NET.$((10 + i))"
			# shellcheck source=/dev/null
			(source "$E2E_WORK/guests/$n/guest.env"
			 echo "  - { name: $n, role: $ROLE, ip: $ip, cpus: 1, memory: 1024, disk: 10, ssh: \"$ip:$SSH_PORT\" }")
		done
		echo "images:"
		echo "  inline:"
		for i in "${E2E_IMAGES[@]}"; do echo "    - $i"; done
		if [ "$E2E_KUBESPHERE" = 1 ]; then
			for i in "${E2E_KS_IMAGES[@]}"; do echo "    - $i"; done
		fi
		echo "  source_registry: http://127.0.0.1:$E2E_SRC_PORT"
		echo "paths:"
		echo "  ubuntu_iso: $E2E_ISO"
		echo "vmware:"
		echo "  vmrun: $E2E_TESTS/fakes/vmrun"
		echo "guest: { user: ubuntu }"
		echo "addons:"
		if [ "$E2E_KUBESPHERE" = 1 ]; then
			echo "  kubesphere:"
			echo "    enabled: true"
			echo "    version: v4.1.3"
			echo "    chart: http://127.0.0.1:$E2E_FILE_PORT/ks-core-1.1.4.tgz"
			echo "    chart_sha256: $E2E_CHART_SHA"
		else
			echo "  kubesphere: { enabled: false }"
		fi
		echo "timeouts: { wait: ${E2E_WAIT_TIMEOUT:-60s}, ssh_connect: 5s, finalize: 60s, vmrun: 30s, download: 10s }"
	} >"$E2E_CFG"
}

e2e_lab_setup() { # work n [delay...]
	local n=$2 i node ip delays f
	E2E_WORK=$1
	shift 2
	E2E_NSS_WRAPPER=
	for f in /usr/lib/*/libnss_wrapper.so /usr/lib*/libnss_wrapper.so; do
		[ -f "$f" ] && { E2E_NSS_WRAPPER=$f; break; }
	done
	if [ -z "$E2E_NSS_WRAPPER" ]; then
		e2e_log "libnss_wrapper.so is missing: install libnss-wrapper (scripts/install-deps.sh)"
		return 1
	fi
	delays=("$@")
	mkdir -p "$E2E_WORK/pids" "$E2E_WORK/guests" "$E2E_WORK/hooks" "$E2E_WORK/kube" "$E2E_WORK/www"
	E2E_OUT="$E2E_WORK/out" E2E_CFG="$E2E_WORK/lab.yaml"
	e2e_pick_net || return 1
	E2E_REG_PORT=$(e2e_free_port "$E2E_NET.1")
	e2e_fileserver || return 1
	e2e_release
	e2e_source_registry || return 1
	if [ -z "${E2E_ISO:-}" ]; then
		E2E_ISO="$E2E_WORK/ubuntu.iso"
		# shellcheck source=tests/lib/iso_fixture.sh
		source "$E2E_TESTS/lib/iso_fixture.sh"
		mkdir -p "$E2E_WORK/isowork"
		ubuntu_like_iso "$E2E_ISO" "$E2E_WORK/isowork" && rm -rf "$E2E_WORK/isowork" || return 1
	fi
	E2E_NODES=()
	for ((i = 0; i < n; i++)); do
		node=$(e2e_node_name "$i") ip="$E2E_NET.$((10 + i))"
		E2E_NODES+=("$node")
		mkdir -p "$E2E_WORK/guests/$node"
		{
			echo "IP=$ip"
			echo "SSH_PORT=$(e2e_free_port "$ip")"
			if [ "$i" -eq 0 ]; then echo "ROLE=master"; else echo "ROLE=worker"; fi
			echo "DELAY=${delays[$i]:-1}"
		} >"$E2E_WORK/guests/$node/guest.env"
		e2e_guest_root "$node"
	done
	local mroot="$E2E_WORK/guests/${E2E_NODES[0]}/root"
	e2e_api_pki "$E2E_NET.10" "$mroot" || return 1
	# The cluster as the master's k3s sees it: every node Ready, kube-system running.
	for node in "${E2E_NODES[@]}"; do echo "$node Ready"; done >"$mroot/fake-k3s/nodes"
	{
		echo "coredns-5688667fd4-x2x7q Running true"
		echo "local-path-provisioner-774c6665dc-7nq4d Running true"
		echo "metrics-server-6f4c6675d5-2mw8x Running true"
		echo "svclb-traefik-1f2e3d4c-abcde Running true"
		echo "traefik-c98fdf6fb-5vq9n Running true"
		echo "helm-install-traefik-crd-6hqqz Succeeded false"
	} >"$mroot/fake-k3s/pods-kube-system"
	{
		echo "ks-apiserver-7d9c5b8f6-q2w4e Running true"
		echo "ks-console-5f8b9c7d4-r5t6y Running true"
		echo "ks-controller-manager-6c7d8e9f0-u7i8o Running true"
	} >"$mroot/fake-k3s/pods-kubesphere-system"
	if [ "$E2E_KUBESPHERE" = 1 ]; then
		mkdir -p "$E2E_WORK/console"
		echo '<!doctype html><title>KubeSphere (e2e stand-in)</title>' >"$E2E_WORK/console/index.html"
	fi
	# sshd resolves the guest user (uid 0, the mount namespace needs it) through nss_wrapper.
	# Its own empty home: the host's ~/.bashrc (which bash sources for ssh commands) stays out.
	mkdir -p "$E2E_WORK/home"
	{ cat /etc/passwd; echo "ubuntu:x:0:0:simulated guest user:$E2E_WORK/home:/bin/bash"; } >"$E2E_WORK/passwd"
	cp /etc/group "$E2E_WORK/group"
	printf '#!/bin/sh\nexec "%s" start "$@"\n' "$E2E_TESTS/lib/e2e_guest.sh" >"$E2E_WORK/hooks/on"
	printf '#!/bin/sh\nexec "%s" stop "$@"\n' "$E2E_TESTS/lib/e2e_guest.sh" >"$E2E_WORK/hooks/off"
	chmod +x "$E2E_WORK/hooks/on" "$E2E_WORK/hooks/off"
	cat >"$E2E_WORK/kube/config" <<'EOF'
apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: other
  context:
    cluster: other
    user: other
current-context: other
users:
- name: other
  user:
    token: not-a-real-token
EOF
	chmod 600 "$E2E_WORK/kube/config"
	e2e_config
	export E2E_WORK E2E_OUT E2E_NSS_WRAPPER
	export FAKE_VMRUN_STATE="$E2E_WORK/vmrun" FAKE_VMRUN_FAULTS="$E2E_WORK/vmrun.faults"
	export FAKE_VMRUN_ON_START="$E2E_WORK/hooks/on" FAKE_VMRUN_ON_STOP="$E2E_WORK/hooks/off"
	export KUBECONFIG="$E2E_WORK/kube/config"
	mkdir -p "$FAKE_VMRUN_STATE"
	# Workstation as the public record shows it: a nogui VM answers Tools/IP queries only
	# so (NOGUI=record), power calls must not overlap (SERIAL_ONLY), and a stopped VM's
	# files stay locked a moment (LINGER_LOCKS); what goes wrong lands in violations.log.
	printf 'NOGUI=record\nSERIAL_ONLY=flag\nLINGER_LOCKS=2\n' >"$FAKE_VMRUN_FAULTS"
	export K3SFORGE_VMWARE_SETTLE_MS=100
}

e2e_kf() {
	"$E2E_BIN" --no-color -c "$E2E_CFG" -o "$E2E_OUT" "$@"
}

e2e_lab_teardown() {
	local f
	[ -n "${E2E_WORK:-}" ] && [ -d "$E2E_WORK" ] || return 0
	local E2E_OUT=${E2E_OUT:-$E2E_WORK/out}
	for f in "$E2E_WORK"/guests/*/*.pid "$E2E_WORK"/pids/*.pid "$E2E_OUT/registry/registry.pid" \
		"$E2E_OUT/registry/push.pid"; do
		[ -f "$f" ] && e2e_stop_pidfile "$f"
	done
	return 0
}
