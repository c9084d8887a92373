#!/usr/bin/env bash
# Makes sure a redis-server for the `peers` bench (resumable-stream's pub/sub)
# is installed and prints its path as the last line of stdout (everything else
# goes to stderr). The bench runs it when it finds none.
#
#   bash test/bench/ensure-redis-server.sh
#
# Looks at $REDIS_SERVER_BIN, then `redis-server` on the PATH, /usr/bin and
# /usr/sbin. When none is there and this runs as root on Debian/Ubuntu,
# installs the distribution package (`apt-get update` only when the package
# lists do not know redis-server yet). The package's own service is not used:
# the bench starts its own server on a random port. Otherwise prints what to
# do and exits 1. Idempotent; prints only the path when all is well.
set -euo pipefail
# shellcheck source=../../deploy/local/apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/apt-install.sh"

say() { printf 'ensure-redis-server: %s\n' "$*" >&2; }

found=""
find_redis_server() {
  local bin
  if [[ -n "${REDIS_SERVER_BIN:-}" ]]; then
    [[ -f "$REDIS_SERVER_BIN" && -x "$REDIS_SERVER_BIN" ]] && found="$REDIS_SERVER_BIN" && return 0
    return 1
  fi
  for bin in "$(command -v redis-server || true)" /usr/bin/redis-server /usr/sbin/redis-server; do
    if [[ -n "$bin" && -f "$bin" && -x "$bin" ]]; then
      found="$bin"
      return 0
    fi
  done
  return 1
}

if find_redis_server; then
  printf '%s\n' "$found"
  exit 0
fi

if [[ -n "${REDIS_SERVER_BIN:-}" ]]; then
  say "REDIS_SERVER_BIN=$REDIS_SERVER_BIN is not an executable."
  exit 1
fi

if apt_install redis-server "for the peers bench" && find_redis_server; then
  say "installed $found"
  printf '%s\n' "$found"
  exit 0
fi

say "no redis-server found."
cat >&2 <<'EOF'

Install Redis (any version >= 6), then run this again. Any of:
  - Debian/Ubuntu, as root:   apt-get update && apt-get install -y redis-server
  - macOS with Homebrew:      brew install redis
Or point the bench at a binary with REDIS_SERVER_BIN=/path/to/redis-server.
EOF
exit 1
