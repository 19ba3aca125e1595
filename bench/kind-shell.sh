#!/usr/bin/env bash
# The chain the action checks, done the way a CI shell script does it, on a kind cluster: download
# ko and Helm, `go mod download` Karpenter's module, `ko build` its KWOK provider into the kind
# node, `helm install` the KWOK controller's charts and Karpenter's chart, apply the NodePool and the
# workload, then `kubectl get` + `sleep` until each step of the chain is seen, and uninstall it all.
# Driven by bench/lib/kind.ts (which prepares the manifests with the action's own code and reads
# the figures back); a phase's time and each poll go to $RESULTS as tab-separated lines. The EXIT
# trap undoes whatever the script did, so the cluster is left as it was found, also on failure.
#
# Environment (all required): KUBECONFIG, KIND_CLUSTER_NAME, KO_DEFAULTBASEIMAGE, KUBECTL,
# CACHE (ko, Helm and GOMODCACHE live here: empty = cold), MANIFESTS (nodepool.yaml,
# instance-types.json, workload.yaml, karpenter-values.json), TOOLS_URL, HELM_ARCHIVE,
# HELM_SUMS, KO_ARCHIVE, KO_SUMS, CHART_REPO, KWOK_CHART_VERSION, STAGE_FAST_CHART_VERSION,
# KARPENTER_VERSION, NAMESPACE, NODEPOOL, WORKLOAD, SELECTOR, MIN_REPLICAS, METRIC_NAME,
# POLL_INTERVAL, RESULTS.
set -euo pipefail

NODE="${KIND_CLUSTER_NAME}-control-plane"
KNS=kube-system
TIMEOUT_S=${TIMEOUT_S:-600}
mkdir -p "$CACHE/bin"
export GOMODCACHE="$CACHE/gomod"
export PATH="$CACHE/bin:$PATH"
: >"$RESULTS"

now() { date +%s%3N; }
# Counted in a file: most calls run in command substitutions (subshells).
CALLS="$RESULTS.kubectl"
: >"$CALLS"
k() {
  printf x >>"$CALLS"
  "$KUBECTL" "$@"
}
record() { printf '%s\n' "$(IFS=$'\t'; echo "$*")" >>"$RESULTS"; }
PHASE=''
PHASE_START=0
phase() {
  local t
  t=$(now)
  [ -n "$PHASE" ] && record phase "$PHASE" $((t - PHASE_START))
  PHASE=$1
  PHASE_START=$t
  [ -n "$PHASE" ] && echo "== $PHASE"
  return 0
}

# until <check>; do sleep $POLL_INTERVAL; done, with a deadline
T0=0
poll() {
  local name=$1 polls=0 deadline=$(($(date +%s) + TIMEOUT_S))
  shift
  while :; do
    polls=$((polls + 1))
    if "$@"; then
      local after=$(($(now) - T0))
      record poll "$name" "$after" "$polls"
      echo "   $name after $((after / 1000)) s ($polls poll(s))"
      return 0
    fi
    if [ "$(date +%s)" -gt "$deadline" ]; then
      echo "timed out: $name" >&2
      return 1
    fi
    sleep "$POLL_INTERVAL"
  done
}

# ---- what to undo at exit (recorded as it is done)
INSTALLED_RELEASES=()
CREATED_CRDS=()
NODE_IMAGES_BEFORE=''
CONFIGMAP=''
NODEPOOL_APPLIED=''
WORKLOAD_APPLIED=''

teardown() {
  local rc=$?
  set +e
  phase teardown
  if [ -n "$WORKLOAD_APPLIED" ]; then
    k delete namespace "$NAMESPACE" --ignore-not-found --wait=true --timeout=300s
  fi
  if [ -n "$NODEPOOL_APPLIED" ]; then
    # While Karpenter still runs: it removes the NodeClaims' finalizers.
    k delete -f "$MANIFESTS/nodepool.yaml" --ignore-not-found --wait=true --timeout=300s
    k wait --for=delete nodeclaims -l "karpenter.sh/nodepool=$NODEPOOL" --timeout=300s 2>/dev/null
  fi
  local i
  for ((i = ${#INSTALLED_RELEASES[@]} - 1; i >= 0; i--)); do
    helm uninstall "${INSTALLED_RELEASES[$i]}" --namespace "$KNS" --wait --timeout 300s --ignore-not-found
  done
  [ -n "$CONFIGMAP" ] && k delete configmap "$CONFIGMAP" -n "$KNS" --ignore-not-found
  # Helm never removes a chart's crds/: the ones this script added go here.
  [ ${#CREATED_CRDS[@]} -gt 0 ] && k delete crd "${CREATED_CRDS[@]}" --ignore-not-found --wait=true --timeout=300s
  # The images ko loaded into the node that were not there before.
  if [ -n "$NODE_IMAGES_BEFORE" ]; then
    local added
    added=$(comm -13 <(printf '%s\n' "$NODE_IMAGES_BEFORE") <(docker exec "$NODE" ctr -n k8s.io images ls -q | sort))
    [ -n "$added" ] && docker exec "$NODE" ctr -n k8s.io images rm $added >/dev/null
  fi
  phase ''
  record kubectl "$(wc -c <"$CALLS")"
  rm -f "$CALLS"
  record exit "$rc"
  exit "$rc"
}
trap teardown EXIT

crds() { k get crd -o name | sed 's|.*/||' | sort; }

# ---- 1. tools: released archives, checked against their published checksums
phase tools
fetch_tool() { # name archive sums member
  [ -x "$CACHE/bin/$1" ] && return 0
  local d
  d=$(mktemp -d)
  curl -fsSL -o "$d/$(basename "$2")" "$TOOLS_URL/$2"
  curl -fsSL -o "$d/sums" "$TOOLS_URL/$3"
  # helm's .sha256sum names no file; ko's checksums.txt lists every archive
  (cd "$d" && grep " $(basename "$2")\$" sums | sha256sum -c --quiet)
  tar -xzf "$d/$(basename "$2")" -C "$d" "$4"
  install -m 0755 "$d/$4" "$CACHE/bin/$1"
  rm -rf "$d"
}
fetch_tool helm "$HELM_ARCHIVE" "$HELM_SUMS" linux-amd64/helm
fetch_tool ko "$KO_ARCHIVE" "$KO_SUMS" ko

# ---- 2. Karpenter's source, through the Go module proxy
phase karpenter-source
SRC=$(cd /tmp && GOWORK=off GOFLAGS='' go mod download -json "sigs.k8s.io/karpenter@$KARPENTER_VERSION" | jq -r .Dir)

# ---- 3. ko build of the KWOK provider, loaded into the kind node
phase ko-build
NODE_IMAGES_BEFORE=$(docker exec "$NODE" ctr -n k8s.io images ls -q | sort)
IMAGE=$(cd "$SRC" && KO_DOCKER_REPO=kind.local CGO_ENABLED=0 GOWORK=off \
  GOFLAGS="-mod=readonly -ldflags=-X=sigs.k8s.io/karpenter/pkg/operator.Version=$KARPENTER_VERSION" \
  ko build -B --platform=linux/amd64 ./kwok | tail -n 1)
echo "   $IMAGE"

# ---- 4. KWOK controller, Karpenter's CRDs, instance types, Karpenter
phase kwok-install
CRDS_BEFORE=$(crds)
INSTALLED_RELEASES+=(kwok)
helm upgrade --install kwok kwok --repo "$CHART_REPO" --version "$KWOK_CHART_VERSION" \
  --namespace "$KNS" --set hostNetwork=true --wait --timeout 300s
INSTALLED_RELEASES+=(kwok-stage-fast)
helm upgrade --install kwok-stage-fast stage-fast --repo "$CHART_REPO" --version "$STAGE_FAST_CHART_VERSION" \
  --namespace "$KNS" --wait --timeout 300s

phase karpenter-install
# Karpenter's CRDs: the chart's and KWOKNodeClass (the chart's crds/ lacks it); Helm then skips crds/.
CREATED_CRDS=($(comm -13 <(printf '%s\n' "$CRDS_BEFORE") <(crds)))
KARPENTER_CRDS=$(k apply --server-side -f "$SRC/kwok/charts/crds" -f "$SRC/kwok/apis/crds" -o name)
CREATED_CRDS=($(comm -13 <(printf '%s\n' "$CRDS_BEFORE") <(crds)))
k wait --for=condition=Established $KARPENTER_CRDS --timeout=120s >/dev/null
CONFIGMAP=karpenter-instance-types
k create configmap "$CONFIGMAP" -n "$KNS" --from-file=instance-types.json="$MANIFESTS/instance-types.json" >/dev/null
INSTALLED_RELEASES+=(karpenter)
helm upgrade --install karpenter "$SRC/kwok/charts" --namespace "$KNS" --skip-crds \
  --values "$MANIFESTS/karpenter-values.json" \
  --set "controller.image.repository=${IMAGE%:*}" --set "controller.image.tag=${IMAGE##*:}" --set controller.image.digest= \
  --timeout 300s
k rollout status deployment/karpenter -n "$KNS" --timeout=300s

# ---- 5. NodePool and KWOKNodeClass (its CRD's default status Ready, which the apiserver does not apply)
phase nodepool
T0=$(now) # the setup polls count from here
NODEPOOL_APPLIED=1
k apply --server-side -f "$MANIFESTS/nodepool.yaml"
k patch kwoknodeclass default --subresource=status --type=json \
  -p "[{\"op\":\"add\",\"path\":\"/status\",\"value\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Ready\",\"message\":\"\",\"lastTransitionTime\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}]}}]"
nodepool_ready() { [ "$(k get nodepool "$NODEPOOL" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
metric_served() { k get --raw "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/$METRIC_NAME" >/dev/null; }
poll 'NodePool Ready' nodepool_ready
poll 'external metric served' metric_served

# ---- 6. the chain, polled
phase chain
BASELINE=$(k get nodes -l "karpenter.sh/nodepool=$NODEPOOL" -o name | wc -l)
WORKLOAD_APPLIED=1
k apply -f "$MANIFESTS/workload.yaml" >/dev/null
T0=$(now)
record mark workload-applied "$T0"
DESIRED=0
hpa_scaled() {
  DESIRED=$(k get hpa "$WORKLOAD" -n "$NAMESPACE" -o 'jsonpath={.status.desiredReplicas}')
  [ "${DESIRED:-0}" -gt "$MIN_REPLICAS" ]
}
pods_in() { k get pods -n "$NAMESPACE" -l "$SELECTOR" --field-selector="status.phase=$1" -o name | wc -l; }
pending() { [ "$(pods_in Pending)" -gt 0 ] || [ "$(pods_in Running)" -ge "$DESIRED" ]; }
nodes_ready() {
  [ "$(k get nodes -l "karpenter.sh/nodepool=$NODEPOOL" -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)" -gt "$BASELINE" ]
}
all_running() { [ "$(pods_in Running)" -ge "$DESIRED" ]; }
nodes_back() { [ "$(k get nodes -l "karpenter.sh/nodepool=$NODEPOOL" -o name | wc -l)" -le "$BASELINE" ]; }
poll 'HPA desiredReplicas > minReplicas' hpa_scaled
poll 'pods Pending (or already Running)' pending
poll 'new GPU nodes Ready' nodes_ready
poll 'all desired pods Running' all_running
k delete hpa,deployment "$WORKLOAD" -n "$NAMESPACE" --ignore-not-found --wait=false >/dev/null
record mark workload-deleted "$(now)"
poll 'nodes back to baseline' nodes_back
record mark chain-done "$(now)"
