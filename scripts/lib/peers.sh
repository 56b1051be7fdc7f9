# shellcheck shell=bash
# Sourced by scripts/test and scripts/demo: the Python venv with the loopback peers and
# reference oracles, and start/stop helpers for osmem-server and moto S3 on 127.0.0.1.

REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VENV=${VENV:-$REPO_ROOT/.venv}
PEER_LOG_DIR=${PEER_LOG_DIR:-$REPO_ROOT/target/peers}
PEER_PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

# Creates (or refreshes, when the requirements file changed) the venv.
ensure_venv() {
  local req=$REPO_ROOT/scripts/requirements-test.txt stamp=$VENV/.requirements.sha256
  local want; want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -x $VENV/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    return 0
  fi
  log "installing Python peers and oracles into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$req"
  echo "$want" >"$stamp"
}

# Asks the kernel for a free loopback port.
free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until URL answers any HTTP status, or fails after ~30 s.
wait_http() {
  local url=$1 name=$2
  for _ in $(seq 1 150); do
    if "$VENV/bin/python" - "$url" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass
PY
    sleep 0.2
  done
  log "$name did not come up at $url (log: $PEER_LOG_DIR)"
  return 1
}

osmem_binary() {
  local bin
  bin=$(ls "$VENV"/lib/python3*/site-packages/osmem_server/bin/osmem-server 2>/dev/null | head -n1)
  [[ -x $bin ]] || { log "osmem-server binary not found in $VENV"; return 1; }
  echo "$bin"
}

# Starts osmem-server; exports OSMEM_URL.
start_osmem() {
  mkdir -p "$PEER_LOG_DIR"
  local port bin; port=$(free_port); bin=$(osmem_binary)
  "$bin" -addr "127.0.0.1:$port" -no-stdin-watch >"$PEER_LOG_DIR/osmem.log" 2>&1 &
  PEER_PIDS+=($!)
  export OSMEM_URL="http://127.0.0.1:$port"
  wait_http "$OSMEM_URL" osmem-server
  log "osmem-server on $OSMEM_URL"
}

# Starts moto's S3 server; exports S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 and dummy credentials.
start_moto() {
  mkdir -p "$PEER_LOG_DIR"
  local port; port=$(free_port)
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$PEER_LOG_DIR/moto.log" 2>&1 &
  PEER_PIDS+=($!)
  export S3_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT_URL
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing}
  export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
  export AWS_REGION=${AWS_REGION:-us-east-1}
  wait_http "$S3_ENDPOINT_URL" moto_server
  log "moto S3 on $S3_ENDPOINT_URL"
}

stop_peers() {
  local pid
  for pid in "${PEER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PEER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PEER_PIDS=()
}
