#!/usr/bin/env bash
# Installs the Debian packages Brook's tests and benchmarks use.
#   scripts/install-system-deps.sh test    python gRPC client + protoc plugin
#   scripts/install-system-deps.sh bench   redis-server, nats-server
# Skips what is already there; needs root (or sudo) only when something is missing.
set -euo pipefail
want=()
case "${1:-test}" in
  test)  pkgs=(python3-grpcio python3-protobuf protobuf-compiler-grpc protobuf-compiler) ;;
  bench) pkgs=(redis-server redis-tools nats-server) ;;
  *) echo "usage: $0 test|bench" >&2; exit 2 ;;
esac
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || want+=("$p")
done
[ ${#want[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}"
