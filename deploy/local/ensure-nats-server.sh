#!/usr/bin/env bash
# Makes sure a nats-server >= 2.9 is available and prints its path as the last
# line of stdout (everything else goes to stderr). Used by `npm test`,
# `npm start` and .ci/run.
#
# Looks at $NATS_SERVER_BIN, the PATH, /usr/sbin (Debian's package),
# /usr/local/bin and /usr/bin. When none is usable and this runs as root on
# Debian/Ubuntu, installs the distribution package (`apt-get update` only when
# the package lists do not know nats-server yet). Otherwise prints what to do
# and exits 1. Idempotent; prints only the path when all is well.
set -euo pipefail
# shellcheck source=apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

readonly MIN_MAJOR=2
readonly MIN_MINOR=9

say() { printf 'ensure-nats-server: %s\n' "$*" >&2; }

# "v2.9.10" from `nats-server --version` ("nats-server: v2.9.10").
version_of() {
  "$1" --version 2>/dev/null | grep -oE 'v?[0-9]+\.[0-9]+\.[0-9]+[^ ]*' | head -n1 || true
}

# True when the version string is >= MIN_MAJOR.MIN_MINOR.
new_enough() {
  local v="${1#v}" major minor
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

# Sets $found to the first usable nats-server (and $too_old to the last one
# that is older than the minimum); fails when there is none.
found=""
too_old=""
find_nats_server() {
  local candidates=() dirs=() dir bin version
  if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
    candidates+=("$NATS_SERVER_BIN")
  else
    IFS=: read -r -a dirs <<<"${PATH:-}"
    for dir in "${dirs[@]}"; do [[ -n "$dir" ]] && candidates+=("$dir/nats-server"); done
    candidates+=(/usr/sbin/nats-server /usr/local/bin/nats-server /usr/bin/nats-server)
  fi
  for bin in "${candidates[@]}"; do
    [[ -f "$bin" && -x "$bin" ]] || continue
    version="$(version_of "$bin")"
    if new_enough "$version"; then
      found="$bin"
      return 0
    fi
    too_old="$bin (${version:-unknown version})"
  done
  return 1
}

print_instructions() {
  say "no usable nats-server (>= ${MIN_MAJOR}.${MIN_MINOR}) found${too_old:+; too old: $too_old}."
  cat >&2 <<'EOF'

Install nats-server 2.9 or newer, then run this again. Any of:
  - Debian 12+/Ubuntu, as root:   apt-get update && apt-get install -y nats-server
    (or run this script as root: bash deploy/local/ensure-nats-server.sh)
  - any Linux/macOS:              download a release archive from
                                  https://github.com/nats-io/nats-server/releases
                                  and put `nats-server` on your PATH
  - with Go installed:            go install github.com/nats-io/nats-server/v2@latest
  - macOS with Homebrew:          brew install nats-server
Or point the project at a binary with NATS_SERVER_BIN=/path/to/nats-server.
EOF
}

if find_nats_server; then
  printf '%s\n' "$found"
  exit 0
fi

if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
  say "NATS_SERVER_BIN=$NATS_SERVER_BIN is not an executable nats-server >= ${MIN_MAJOR}.${MIN_MINOR}${too_old:+ (found $too_old)}."
  exit 1
fi

if apt_install nats-server ""; then
  if find_nats_server; then
    say "installed $found ($(version_of "$found"))"
    printf '%s\n' "$found"
    exit 0
  fi
  say "the distribution's nats-server is older than ${MIN_MAJOR}.${MIN_MINOR}."
fi

print_instructions
exit 1
