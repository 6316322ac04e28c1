#!/usr/bin/env bash
# Generates the Python gRPC client for brook.v1 from ../../protos into OUT
# (default: this folder; the generated brook/ package is gitignored).
# Needs Debian's protobuf-compiler, protobuf-compiler-grpc and python3-grpcio.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
protos="$here/../../protos"
mkdir -p "$out"
protoc -I "$protos" \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  "$protos"/brook/v1/*.proto
