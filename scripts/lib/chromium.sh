# shellcheck shell=bash
# Sourced by scripts/test and scripts/demo: headless Chromium (Debian's package), which renders
# the page of `tweet-indexer dashboards preview` for its browser test and the demo's PNG.

# Headless Chromium as this machine runs it: as root (no sandbox), on a closed network (no
# background connections), with a fresh profile. Usage: headless_chromium PROFILE_DIR ARGS...
headless_chromium() {
  local profile=$1; shift
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$profile" "$@"
}

# Installs Debian's chromium (and a colour emoji font, so screenshots show the emoji) when
# missing; returns at once when both are there. Fails (status 1) where it cannot install:
# not root, no apt-get, or the package cannot be had.
ensure_chromium() {
  local want=()
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
  dpkg-query -W -f='${Status}' fonts-noto-color-emoji 2>/dev/null | grep -q 'ok installed' ||
    want+=(fonts-noto-color-emoji)
  ((${#want[@]} == 0)) && return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install ${want[*]} (needs root and apt-get)"
    command -v chromium >/dev/null 2>&1
    return
  fi
  local out=${PEER_LOG_DIR:-/tmp}/apt-chromium.log
  mkdir -p "$(dirname "$out")"
  log "installing Debian's ${want[*]} (headless browser for the dashboard page)"
  # The package lists may be missing or stale: update once when the first try fails.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >"$out" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$out" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >>"$out" 2>&1 ||
      log "apt-get install ${want[*]} failed (log: $out)"
  fi
  command -v chromium >/dev/null 2>&1
}
