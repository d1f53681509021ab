#!/usr/bin/env bash
# Installs the Tessera node service on this box: a dedicated `tessera` system user,
# the folders under TESSERA_HOME (default /opt/tessera), and the systemd unit from
# deploy/systemd/tessera-node.service. Run as root; safe to run again.
#   deploy/install-node.sh [UNIT_FILE]
# Then put the binary in $TESSERA_HOME/bin/tessera and the configuration in
# $TESSERA_HOME/etc/node.toml (tessera-cluster up does both), and
#   systemctl start tessera-node
set -euo pipefail
unit=${1:-$(cd "$(dirname "$0")" && pwd)/systemd/tessera-node.service}
home=${TESSERA_HOME:-/opt/tessera}
[ "$(id -u)" -eq 0 ] || { echo "install-node.sh: run as root" >&2; exit 1; }
[ -f "$unit" ] || { echo "install-node.sh: no unit file $unit" >&2; exit 1; }
command -v systemctl >/dev/null || { echo "install-node.sh: this box has no systemd" >&2; exit 1; }

id tessera >/dev/null 2>&1 || useradd --system --home-dir "$home" --shell /usr/sbin/nologin tessera
mkdir -p "$home"/{bin,etc,keys,log,run}
chown -R tessera:tessera "$home"/log "$home"/run "$home"/keys
chmod 700 "$home"/keys
# The store path in node.toml belongs to the service user, and is the one path
# outside log/ and run/ that the hardened unit may write (fuse saves groups there).
dropin=/etc/systemd/system/tessera-node.service.d
rm -f "$dropin/store.conf"
if [ -f "$home/etc/node.toml" ]; then
  store=$(sed -n 's/^store_path = "\(.*\)"$/\1/p' "$home/etc/node.toml")
  if [ -n "$store" ]; then
    mkdir -p "$store" "$dropin"
    chown -R tessera:tessera "$store"
    printf '[Service]\nReadWritePaths=%s\n' "$store" >"$dropin/store.conf"
  fi
fi
sed "s|@TESSERA_HOME@|$home|g" "$unit" >/etc/systemd/system/tessera-node.service
systemctl daemon-reload
systemctl enable tessera-node >/dev/null
echo "installed tessera-node.service (home $home); start it with: systemctl start tessera-node"
