#!/usr/bin/env bash
# Makes sure a Chromium for the browser end-to-end tests (test/browser) is
# installed and prints its path as the last line of stdout (everything else
# goes to stderr). Used by `npm test` (and so by .ci/run, which runs it).
#
# Looks at $CHROMIUM_BIN, then /usr/bin/chromium (Debian's package) and
# `chromium` / `chromium-browser` on the PATH. When none is there and this runs
# as root on Debian/Ubuntu, installs the distribution package (`apt-get update`
# only when the package lists do not know chromium yet). Otherwise prints what
# to do and exits 1. Idempotent; prints only the path when all is well.
set -euo pipefail
# shellcheck source=apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

say() { printf 'ensure-chromium: %s\n' "$*" >&2; }

found=""
find_chromium() {
  local bin
  if [[ -n "${CHROMIUM_BIN:-}" ]]; then
    [[ -x "$CHROMIUM_BIN" ]] && found="$CHROMIUM_BIN" && return 0
    return 1
  fi
  for bin in /usr/bin/chromium "$(command -v chromium || true)" "$(command -v chromium-browser || true)"; do
    if [[ -n "$bin" && -x "$bin" ]]; then
      found="$bin"
      return 0
    fi
  done
  return 1
}

if find_chromium; then
  printf '%s\n' "$found"
  exit 0
fi

if [[ -n "${CHROMIUM_BIN:-}" ]]; then
  say "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable."
  exit 1
fi

if apt_install chromium "for the browser tests" fonts-dejavu-core && find_chromium; then
  say "installed $found"
  printf '%s\n' "$found"
  exit 0
fi

say "no Chromium found."
cat >&2 <<'EOF'

The browser tests (test/browser) drive a headless Chromium. Install one, then run this again:
  - Debian/Ubuntu, as root:  apt-get update && apt-get install -y chromium
    (or run this script as root: bash deploy/local/ensure-chromium.sh)
  - elsewhere: install Chromium or Chrome and point the tests at it with CHROMIUM_BIN=/path/to/chromium
EOF
exit 1
