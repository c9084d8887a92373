#!/usr/bin/env bash
# Makes sure a Chromium for the browser end-to-end tests (test/browser) is
# installed and prints its path as the last line of stdout (everything else
# goes to stderr). Used by `npm test` and .ci/run.
#
# Looks at $CHROMIUM_BIN, then /usr/bin/chromium (Debian's package) and
# `chromium` / `chromium-browser` on the PATH. When none is there and this runs
# as root on Debian/Ubuntu, installs the distribution package (`apt-get update`
# only when the package lists do not know chromium yet). Otherwise prints what
# to do and exits 1. Idempotent; prints only the path when all is well.
set -euo pipefail

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

is_debian_like() {
  [[ -r /etc/os-release ]] || return 1
  local id id_like
  id="$(. /etc/os-release && printf '%s' "${ID:-}")"
  id_like="$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")"
  [[ "$id" == debian || "$id" == ubuntu || " $id_like " == *" debian "* || " $id_like " == *" ubuntu "* ]]
}

apt_has_candidate() {
  local candidate
  candidate="$(apt-cache policy chromium 2>/dev/null | awk '/Candidate:/ { print $2; exit }')"
  [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

if find_chromium; then
  printf '%s\n' "$found"
  exit 0
fi

if [[ -n "${CHROMIUM_BIN:-}" ]]; then
  say "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable."
  exit 1
fi

if [[ "$(id -u)" -eq 0 ]] && is_debian_like && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt_has_candidate; then
    say "running apt-get update (the package lists do not know chromium yet)"
    apt-get update -qq >&2
  fi
  if apt_has_candidate; then
    say "installing chromium with apt-get (for the browser tests)"
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
    if find_chromium; then
      say "installed $found"
      printf '%s\n' "$found"
      exit 0
    fi
  else
    say "apt has no chromium package for this release."
  fi
fi

say "no Chromium found."
cat >&2 <<'EOF'

The browser tests (test/browser) drive a headless Chromium. Install one, then run this again:
  - Debian/Ubuntu, as root:  apt-get update && apt-get install -y chromium
    (or run this script as root: bash deploy/local/ensure-chromium.sh)
  - elsewhere: install Chromium or Chrome and point the tests at it with CHROMIUM_BIN=/path/to/chromium
EOF
exit 1
