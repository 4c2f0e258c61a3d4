#!/usr/bin/env bash
# Install the Debian packages the test suite runs for real, only where they are missing.
set -euo pipefail

# command -> Debian package
declare -A NEED=(
  [redis-server]=redis-server
  [prometheus]=prometheus
  [promtool]=prometheus
  [amtool]=prometheus-alertmanager
  [prometheus-redis-exporter]=prometheus-redis-exporter
  [prometheus-blackbox-exporter]=prometheus-blackbox-exporter
  [wrk]=wrk
  [chromium]=chromium
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing system packages: ${pkgs[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
# Debian starts these as services on install; the tests start their own on free ports.
for svc in redis-server prometheus prometheus-alertmanager prometheus-redis-exporter prometheus-blackbox-exporter; do
  $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
