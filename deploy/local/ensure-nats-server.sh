#!/usr/bin/env bash
# Makes sure a nats-server >= 2.9 (or >= --min X.Y) is available and prints
# its path as the last line of stdout (everything else goes to stderr). Used
# by `npm test`, `npm start` and (with --min 2.10) `npm run test:chaos`.
#
#   bash deploy/local/ensure-nats-server.sh [--min X.Y]
#
# Looks at $NATS_SERVER_BIN, the PATH, /usr/sbin (Debian's package),
# /usr/local/bin, /usr/bin and .data/bin/nats-server-* (fetched by this
# script). When none is usable and this runs as root on Debian/Ubuntu,
# installs the distribution package (`apt-get update` only when the package
# lists do not know nats-server yet). When that package is older than --min
# (Debian 12 ships 2.9.10), it fetches Debian 13 (trixie)'s nats-server with
# apt-get into .data/bin instead, using private package lists: the system's
# apt sources and installed packages are not touched. Otherwise prints what
# to do and exits 1. Idempotent; prints only the path when all is well.
set -euo pipefail
# shellcheck source=apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly FETCH_DIR="$ROOT/.data/bin"
readonly FETCH_SUITE=trixie

MIN_MAJOR=2
MIN_MINOR=9
while (($# > 0)); do
  case "$1" in
  --min)
    [[ "${2:-}" =~ ^([0-9]+)\.([0-9]+)$ ]] || { printf 'ensure-nats-server: --min needs X.Y, got %s\n' "${2:-nothing}" >&2; exit 2; }
    MIN_MAJOR=${BASH_REMATCH[1]}
    MIN_MINOR=${BASH_REMATCH[2]}
    shift 2
    ;;
  *)
    printf 'ensure-nats-server: unknown argument %s (usage: ensure-nats-server.sh [--min X.Y])\n' "$1" >&2
    exit 2
    ;;
  esac
done
readonly MIN_MAJOR MIN_MINOR

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
    shopt -s nullglob
    candidates+=("$FETCH_DIR"/nats-server-*)
    shopt -u nullglob
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

Install a newer nats-server (see the minimum above), then run this again. Any of:
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

# fetch_from_debian SUITE: downloads SUITE's nats-server package with apt-get
# (private package lists under a temp dir; signatures checked against the
# system's Debian keyring) and unpacks its binary to
# $FETCH_DIR/nats-server-<version>. Fails quietly when that is not possible.
fetch_from_debian() {
  local suite="$1" tmp opts deb version
  [[ "$(id -u)" -eq 0 ]] && is_debian_like && command -v apt-get >/dev/null 2>&1 || return 1
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  printf 'deb http://deb.debian.org/debian %s main\n' "$suite" >"$tmp/sources.list"
  opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o APT::Sandbox::User=root)
  say "fetching nats-server from Debian $suite with apt-get (private package lists; the system's apt setup is not changed)"
  apt-get "${opts[@]}" update -qq >&2 || return 1
  (cd "$tmp" && apt-get "${opts[@]}" download -qq nats-server >&2) || return 1
  deb="$(ls "$tmp"/nats-server_*.deb 2>/dev/null | head -n1)"
  [[ -n "$deb" ]] || return 1
  dpkg-deb -x "$deb" "$tmp/root" || return 1
  version="$(version_of "$tmp/root/usr/sbin/nats-server")"
  [[ -n "$version" ]] || return 1
  mkdir -p "$FETCH_DIR"
  install -m 0755 "$tmp/root/usr/sbin/nats-server" "$FETCH_DIR/nats-server-${version#v}"
}

# The distribution's package, unless apt already knows it is too old (then only the fetch below helps).
candidate="$(apt-cache policy nats-server 2>/dev/null | awk '/Candidate:/ { print $2; exit }' || true)"
if [[ -n "$candidate" && "$candidate" != "(none)" ]] && ! new_enough "${candidate%%-*}"; then
  say "the distribution's nats-server ($candidate) is older than ${MIN_MAJOR}.${MIN_MINOR}."
elif apt_install nats-server ""; then
  if find_nats_server; then
    say "installed $found ($(version_of "$found"))"
    printf '%s\n' "$found"
    exit 0
  fi
  say "the distribution's nats-server is older than ${MIN_MAJOR}.${MIN_MINOR}."
fi

if fetch_from_debian "$FETCH_SUITE" && find_nats_server; then
  say "fetched $found ($(version_of "$found")) from Debian $FETCH_SUITE"
  printf '%s\n' "$found"
  exit 0
fi

print_instructions
exit 1
