# Shared by ensure-nats-server.sh and ensure-chromium.sh (sourced, not run):
# installing a missing tool from the Debian/Ubuntu package when that is
# possible. The sourcing script defines `say` (its prefixed stderr message).

# Whether /etc/os-release names Debian or Ubuntu (or a derivative of them).
is_debian_like() {
  [[ -r /etc/os-release ]] || return 1
  local id id_like
  id="$(. /etc/os-release && printf '%s' "${ID:-}")"
  id_like="$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")"
  [[ "$id" == debian || "$id" == ubuntu || " $id_like " == *" debian "* || " $id_like " == *" ubuntu "* ]]
}

# Whether apt already knows an installable PACKAGE (then `apt-get update` is not needed).
apt_has_candidate() {
  local candidate
  candidate="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')"
  [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

# apt_install PACKAGE PURPOSE [EXTRA_PACKAGE...]
# Installs PACKAGE (and the extra packages, without recommends) with apt-get
# when this runs as root on Debian/Ubuntu; `apt-get update` runs only when the
# package lists do not know PACKAGE yet. PURPOSE ("" for none) is said in the
# "installing" message. Returns 0 when apt-get installed it, 1 when this
# machine cannot install it that way (not root, not Debian-like, no apt-get,
# or no such package for the release, which is said). A failing apt-get ends
# the calling script with apt-get's status.
apt_install() {
  local package="$1" purpose="$2"
  shift 2
  [[ "$(id -u)" -eq 0 ]] && is_debian_like && command -v apt-get >/dev/null 2>&1 || return 1
  export DEBIAN_FRONTEND=noninteractive
  if ! apt_has_candidate "$package"; then
    say "running apt-get update (the package lists do not know $package yet)"
    apt-get update -qq >&2 || exit
  fi
  if ! apt_has_candidate "$package"; then
    say "apt has no $package package for this release."
    return 1
  fi
  say "installing $package with apt-get${purpose:+ ($purpose)}"
  apt-get install -y -qq --no-install-recommends "$package" "$@" >&2 || exit
}
