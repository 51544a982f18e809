#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok, helm) and the monitoring binaries the alerting tests run (alertmanager,
# prometheus) from the Go module proxy into a cache outside the repository:
#   ${HB_CACHE_DIR:-$HOME/.cache/heartbeat-operator}/controlplane/<key>/bin
#   ${HB_CACHE_DIR:-$HOME/.cache/heartbeat-operator}/monitoring/<key>/bin
# Versions come from controlplane/hb_controlplane/versions.env; <key> is derived from them, so a
# version bump builds into a fresh directory. A warm cache is a few `test -x` checks.
# Usage: scripts/build-controlplane.sh   (prints the bin directory on stdout)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=../controlplane/hb_controlplane/versions.env
. "$ROOT/controlplane/hb_controlplane/versions.env"

KEY="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}"
CACHE="${HB_CACHE_DIR:-$HOME/.cache/heartbeat-operator}/controlplane/$KEY"
BIN="$CACHE/bin"
STAGES="$CACHE/stages"
# A key of their own: bumping Alertmanager or Prometheus must not rebuild Kubernetes.
MON_KEY="alertmanager-${ALERTMANAGER_VERSION}_prometheus-${PROMETHEUS_VERSION}"
MON_BIN="${HB_CACHE_DIR:-$HOME/.cache/heartbeat-operator}/monitoring/$MON_KEY/bin"
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
ALL_BINARIES=("${K8S_BINARIES[@]}" etcd kwok helm)
MON_BINARIES=(alertmanager prometheus)
TOTAL=$((${#ALL_BINARIES[@]} + ${#MON_BINARIES[@]}))
_rest="${KUBERNETES_VERSION#v}"
K8S_MAJOR="${_rest%%.*}"
_rest="${_rest#*.}"
K8S_MINOR="${_rest%%.*}"
# Stage files kwok needs: without --config stages the bare kwok binary exits "no stages found".
STAGE_FILES=(node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml
  pod/chaos/pod-container-running-failed.yaml)

log() { echo "controlplane: $*" >&2; }
die() { echo "controlplane: ERROR: $*" >&2; exit 1; }
# Anything that fails without its own message still names the command that broke.
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

complete() {
  local b f
  for b in "${ALL_BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
  for b in "${MON_BINARIES[@]}"; do [ -x "$MON_BIN/$b" ] || return 1; done
  for f in "${STAGE_FILES[@]}"; do [ -s "$STAGES/$(basename "$f")" ] || return 1; done
}

if complete; then echo "$BIN"; exit 0; fi

mkdir -p "$BIN" "$STAGES" "$MON_BIN"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  log "another build holds $CACHE/.lock; waiting for it to finish"
  flock 9
fi
# Another process may have finished the build while we waited for the lock.
if complete; then echo "$BIN"; exit 0; fi

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$GO" ] || die "Go toolchain not found (set GO=/path/to/go); Go >= 1.26 is needed"
export CGO_ENABLED=0
export GOFLAGS="-p=2 -buildvcs=false"
LOWPRIO=(nice -n 10)
command -v ionice >/dev/null 2>&1 && LOWPRIO+=(ionice -c2 -n7)
GOMODCACHE="$("$GO" env GOMODCACHE)" || die "\`$GO env GOMODCACHE\` failed; is $GO a Go toolchain?"
BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
STEP=0

gorun() { "${LOWPRIO[@]}" "$GO" "$@"; }

# `go get` lists every module it adds (hundreds for k8s): keep that in a log, show it on failure.
goget() {
  local logfile="$CACHE/go-get.log"
  gorun get "$@" >"$logfile" 2>&1 || { tail -n 30 "$logfile" >&2; return 1; }
}

# Announces binary $1 and returns 1 when it is already in the cache (partial builds resume).
# $2: the bin directory (default the control plane's).
need() {
  STEP=$((STEP + 1))
  if [ -x "${2:-$BIN}/$1" ]; then log "cached $1 ($STEP/$TOTAL)"; return 1; fi
  log "building $1 ($STEP/$TOTAL)…"
}

# Builds into a temporary name first so an interrupted build never leaves a broken binary.
install_bin() { chmod +x "${2:-$BIN}/.$1.tmp" && mv -f "${2:-$BIN}/.$1.tmp" "${2:-$BIN}/$1"; }

k8s_wrapper() {
  local src="$CACHE/src-k8s" info mod gover godebug staging minor
  info="$(cd "$CACHE" && "$GO" mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION")" \
    || die "the module proxy does not serve k8s.io/kubernetes@$KUBERNETES_VERSION"
  mod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"$info")"
  gover="$(awk '$1 == "go" {print $2; exit}' "$mod")"
  godebug="$(awk '$1 == "godebug" {print $2; exit}' "$mod")"
  # Every staging module (the `=> ./staging/...` replaces) must point at its published v0.Y.Z tag.
  staging="$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$mod")"
  [ -n "$staging" ] || die "no staging replace block found in $mod"
  minor="v0.${KUBERNETES_VERSION#v1.}"
  rm -rf "$src" && mkdir -p "$src"
  (
    cd "$src"
    "$GO" mod init example.invalid/hb-k8s-testbins >/dev/null 2>&1
    "$GO" mod edit -go="$gover"
    [ -z "$godebug" ] || "$GO" mod edit -godebug="$godebug"
    local name
    for name in $staging; do "$GO" mod edit -replace="$name=$name@$minor"; done
    local tools=()
    for name in "${K8S_BINARIES[@]}"; do
      tools+=("k8s.io/kubernetes/cmd/$name@$KUBERNETES_VERSION")
    done
    goget -tool "${tools[@]}"
  ) || die "resolving k8s.io/kubernetes@$KUBERNETES_VERSION failed (see the module named above)"
}

# Without these the binaries report v0.0.0-master and `kubectl version` / Helm's kubeVersion
# checks see a bogus server version. client-go's copy is what kubectl prints as its own version.
k8s_ldflags() {
  local pkg flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$K8S_MAJOR"
    flags+=" -X $pkg.gitMinor=$K8S_MINOR -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
  done
  echo "$flags"
}

build_k8s() {
  local name prepared="" ldflags
  ldflags="$(k8s_ldflags)"
  for name in "${K8S_BINARIES[@]}"; do
    need "$name" || continue
    [ -n "$prepared" ] || { k8s_wrapper; prepared=1; }
    (cd "$CACHE/src-k8s" && gorun build -trimpath -tags grpcnotrace -ldflags "$ldflags" \
      -o "$BIN/.$name.tmp" "k8s.io/kubernetes/cmd/$name") || die "building $name failed"
    install_bin "$name"
  done
}

build_etcd() {
  need etcd || return 0
  local src="$CACHE/src-etcd"
  rm -rf "$src" && mkdir -p "$src"
  # A wrapper module: etcd's own go.mod has replace directives, so `go install` refuses it.
  (
    cd "$src"
    "$GO" mod init example.invalid/hb-etcd-testbin >/dev/null 2>&1
    goget -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    # The package path ends in /v3, so without -o the binary would be called "server".
    gorun build -trimpath -ldflags "-s -w" -o "$BIN/.etcd.tmp" go.etcd.io/etcd/server/v3
  ) || die "building etcd $ETCD_VERSION failed"
  install_bin etcd
}

# go install pkg@version with GOBIN in a scratch dir, then an atomic move into bin/ ($4, default
# the control plane's).
go_install() {
  local name="$1" pkg="$2" ldflags="$3" dest="${4:-$BIN}" tmp="$CACHE/.gobin-$1"
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$CACHE" && GOBIN="$tmp" gorun install -trimpath -ldflags "$ldflags" "$pkg") \
    || die "go install $pkg failed"
  mv -f "$tmp/$name" "$dest/.$name.tmp" && rm -rf "$tmp"
  install_bin "$name" "$dest"
}

build_kwok() {
  if need kwok; then
    go_install kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" \
      "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
  fi
  local dir="$GOMODCACHE/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage" f
  [ -d "$dir" ] || (cd "$CACHE" && "$GO" mod download "sigs.k8s.io/kwok@$KWOK_VERSION") \
    || die "cannot download sigs.k8s.io/kwok@$KWOK_VERSION for its stage files"
  for f in "${STAGE_FILES[@]}"; do
    install -m 0644 "$dir/$f" "$STAGES/$(basename "$f")" || die "kwok stage $f missing in $dir"
  done
}

build_helm() {
  need helm || return 0
  local p="helm.sh/helm/v3" pkg flags
  # Same ldflags as Helm's Makefile: the real version, and the Kubernetes version Helm assumes
  # when it cannot ask a cluster (`helm template`, lint).
  flags="-s -w -X $p/internal/version.version=$HELM_VERSION -X $p/internal/version.gitTreeState=clean"
  for pkg in "$p/pkg/chartutil" "$p/pkg/lint/rules"; do
    flags+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
  done
  go_install helm "$p/cmd/helm@$HELM_VERSION" "$flags"
}

# The module zip lacks the web UI's compiled assets (ui/app/dist, built by npm in a release),
# which ui/web.go embeds: build from a copy with a placeholder page (the tests use the API).
build_alertmanager() {
  local src="$CACHE/src-alertmanager" dir
  dir="$(cd "$CACHE" && "$GO" mod download -json "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')" \
    || die "the module proxy does not serve github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION"
  rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
  mkdir -p "$src/ui/app/dist"
  echo "<!doctype html><title>Alertmanager</title><p>UI not built; use /api/v2." \
    >"$src/ui/app/dist/index.html"
  (cd "$src" && gorun build -trimpath -ldflags "-s -w -X $1.Version=${ALERTMANAGER_VERSION#v} -X $1.Branch=HEAD" \
    -o "$MON_BIN/.alertmanager.tmp" ./cmd/alertmanager) || die "building alertmanager failed"
  rm -rf "$src"
  install_bin alertmanager "$MON_BIN"
}

# Alertmanager and Prometheus, for the alerting tests (tests/support/monitoring.py). Their
# own version variables, as their Makefiles set them; Prometheus' Go module v0.3xx.y is release
# 3.xx.y. Prometheus' web UI assets are left out (no builtinassets tag): the tests use its API.
build_monitoring() {
  local v="github.com/prometheus/common/version" p="${PROMETHEUS_VERSION#v0.}"
  if need alertmanager "$MON_BIN"; then build_alertmanager "$v"; fi
  if need prometheus "$MON_BIN"; then
    go_install prometheus "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" \
      "-s -w -X $v.Version=${p:0:1}.${p:1} -X $v.Branch=HEAD" "$MON_BIN"
  fi
}

log "building into $CACHE (a cold build takes ~8 minutes on a fast 2-core host, up to ~55 on a slow one)"
build_k8s
build_etcd
build_kwok
build_helm
build_monitoring
complete || die "build finished but binaries or stages are missing in $CACHE"
"$BIN/kube-apiserver" --version >&2
log "done: $BIN"
echo "$BIN"
