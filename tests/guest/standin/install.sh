#!/bin/sh
# Guest tier: the stand-in for k3s's install.sh inside the QEMU test guests (ships in the guest
# test's fake release). Does what the real one does with INSTALL_K3S_SKIP_DOWNLOAD=true: checks
# the binary is in place, writes the k3s (server) or k3s-agent (agent) systemd unit, enables it,
# and starts it unless INSTALL_K3S_SKIP_START=true. Never used outside tests/.
set -eu
[ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" = true ] || { echo "install.sh stand-in: would download k3s; refusing" >&2; exit 1; }
[ -x /usr/local/bin/k3s ] || { echo "Executable k3s binary not found at /usr/local/bin/k3s" >&2; exit 1; }
case "${INSTALL_K3S_EXEC:-server}" in
agent*) name=k3s-agent; exec_cmd=agent ;;
*) name=k3s; exec_cmd=server ;;
esac
cat >/etc/systemd/system/$name.service <<UNIT
[Unit]
Description=Lightweight Kubernetes (k3sforge test stand-in)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=/usr/local/bin/k3s $exec_cmd
KillMode=process
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
UNIT
echo "[INFO]  systemd: Creating service file /etc/systemd/system/$name.service"
systemctl daemon-reload
systemctl enable $name.service >/dev/null 2>&1
[ "${INSTALL_K3S_SKIP_START:-}" = true ] || systemctl restart $name.service
echo "[INFO]  systemd: $name enabled"
