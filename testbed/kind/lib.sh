# Shared by testbed/kind/{build,up,down} (bash `source`). Paths, versions, timing, dockerd.
# shellcheck shell=bash
kind_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$kind_here/../.." && pwd)
# shellcheck source=../versions.env
source "$kind_here/../versions.env"
KIND_VERSION=${KIND_VERSION:-v0.30.0}
cache=${GAC_CACHE:-$HOME/.cache/gpu-autoscaling-conformance}
bindir=$cache/bin
kcache=$cache/kind            # rootfs tarballs, image inputs, the ko base tarball
state=${KIND_BED_DIR:-$repo_root/.bed-kind}   # git-ignored (/.bed*/)
cluster=${KIND_CLUSTER_NAME:-gac}
# docker 20.10's client (Debian's docker.io) matches the daemon; a newer client may be first on PATH
docker_bin=${GAC_DOCKER:-/usr/bin/docker}
[[ -x $docker_bin ]] || docker_bin=$(command -v docker)
export PATH=/usr/local/go/bin:$PATH
mkdir -p "$kcache" "$state"

# Images this bed builds (names other tools expect) and where the ko base tarball goes
CRICTL_VERSION=v1.34.0                 # testbed/go/kind/crictl (its own module); in the node image
PAUSE_VERSION=3.10.1                   # kubeadm v1.34's pause (= containerd's sandbox_image)
ETCD_IMAGE_TAG=3.6.5-0                 # kubeadm v1.34's etcd tag; holds the bed's etcd $ETCD_VERSION
KWOK_IMAGE=registry.k8s.io/kwok/kwok:$KWOK_VERSION
PROBE_IMAGE=gac/kind-probe:v1
KO_BASE_IMAGE=gac/ko-base:v1
KO_BASE_LOCAL=ko.local/ko-base:v1      # the same image under ko's daemon domain: KO_DEFAULTBASEIMAGE=ko.local/ko-base:v1
KO_BASE_TAR=$kcache/ko-base-v1.tar     # `docker save` of the two tags above

now() { date +%s.%N; }
# step NAME CMD...: runs CMD in this shell (errexit stays on: a failing command ends the script,
# and the EXIT trap names the step), prints how long it took
current_step=""
step() {
  local name=$1 t0; shift
  t0=$(now) current_step=$name
  "$@"
  current_step=""
  printf 'kind: %-28s %6.1fs\n' "$name" "$(echo "$(now) - $t0" | bc)" >&2
}
die() { echo "kind: $*" >&2; exit 1; }

# Installs the Debian packages this bed needs when their commands are missing (a fresh machine:
# CI installs from the registries itself). Pairs of command and package. Maintainer scripts may
# not start services (policy-rc.d): dockerd is started by `up`, on the bed's terms.
ensure_packages() {
  local missing=()
  while (($#)); do command -v "$1" >/dev/null || missing+=("$2"); shift 2; done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "kind: installing ${missing[*]} (Debian packages)" >&2
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  local policy=/usr/sbin/policy-rc.d placed=""
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && placed=1; fi
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}") rc=0
  $sudo "${install[@]}" >>"$kcache/apt.log" 2>&1 || { $sudo apt-get update -q && $sudo "${install[@]}"; } >>"$kcache/apt.log" 2>&1 || rc=$?
  [[ -n $placed ]] && $sudo rm -f "$policy"
  [[ $rc -eq 0 ]] || die "could not install ${missing[*]} (log $kcache/apt.log)"
  docker_bin=${GAC_DOCKER:-/usr/bin/docker}
}

docker_up() { "$docker_bin" info >/dev/null 2>&1; }

# Starts dockerd when it is not answering; records that we did (so `down` stops it again), and
# sets dockerd_started_here for this script.
dockerd_started_here=""
# Waits by asking `docker info`, never a fixed sleep.
ensure_dockerd() {
  docker_up && return 0
  command -v dockerd >/dev/null || die "dockerd not installed (apt-get install docker.io)"
  if pgrep -x dockerd >/dev/null; then
    echo "kind: dockerd runs but does not answer yet; waiting" >&2
  else
    # containerd of docker.io is started by dockerd itself when not running as a service
    # fd 9 is up/down's lock: a dockerd holding it would block every later up/down
    nohup dockerd 9>&- >>"$state/dockerd.log" 2>&1 &
    echo $! >"$state/dockerd.pid"
    dockerd_started_here=1
    echo "kind: started dockerd (pid $!, log $state/dockerd.log)" >&2
  fi
  local i
  for ((i = 0; i < 600; i++)); do
    docker_up && return 0
    if [[ -f $state/dockerd.pid ]] && ! kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null; then
      tail -n 20 "$state/dockerd.log" >&2; die "dockerd exited"
    fi
    sleep 0.1
  done
  die "dockerd did not answer within 60s (log $state/dockerd.log)"
}

# Stops dockerd only if ensure_dockerd started it (pid recorded and still dockerd).
stop_dockerd_if_ours() {
  local pid
  [[ -f $state/dockerd.pid ]] || return 0
  pid=$(cat "$state/dockerd.pid")
  if [[ $(ps -p "$pid" -o comm= 2>/dev/null) == dockerd ]]; then
    kill "$pid"
    local i
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "kind: dockerd $pid still running after 30s" >&2; return 1; }
    echo "kind: stopped dockerd (pid $pid), which testbed/kind started" >&2
  fi
  rm -f "$state/dockerd.pid"
}
