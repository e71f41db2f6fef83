#!/usr/bin/env bash
# The README's main command: brings everything up and runs the main job.
#
#   scripts/run.sh
#
# 1. scripts/services.sh up: installs what is missing and starts RabbitMQ, PostgreSQL and
#    SecantusDB (MongoDB protocol) on 127.0.0.1;
# 2. builds every executable in release mode;
# 3. runs `commerce smoke` (a message round trip through RabbitMQ, a row in PostgreSQL, a document
#    in MongoDB);
# 4. empties the demo's stores (databases orders, inventory, payments, gateway; MongoDB
#    notifications) and purges the fleet's queues, so that the run starts from the seeded stock
#    (COMMERCE_KEEP_DATA=1 keeps them); then `commerce setup` (the topology, the schemas and
#    the presence stream the copies announce themselves on);
# 5. starts payment-gateway (the card processor the payment-worker calls over HTTP, configured by
#    config/payment-gateway.json) and waits for its /health, then the fleet from the build:
#    order-worker, two copies of stock-worker, payment-worker and notification-worker, each
#    configured by config/<worker>.json, and waits until each /health says ready;
# 6. `commerce-lab demo` (in the lab, not the operator's `commerce`: it generates load of sample
#    orders): places a mix of sample orders through the broker as an upstream would, follows each
#    to its end, cancels one confirmed order, prints how each ended and how long it
#    took, and runs the saga audit across every store;
# 7. `commerce queues` and `commerce status` (every copy, found by its announcements), then stops the fleet with SIGTERM (each worker must exit 0), then the
#    gateway (SIGTERM, exit 0);
# 8. prints a summary; exits non-zero if any stage failed.
#
# Release, not debug: debug is not much faster to build here. On the 2-core development machine
# a from-scratch build of the `commerce` product with its dependencies took 1 min 49 s in
# release and 1 min 31 s in debug; and the later stages of this script run the worker fleet
# under load, where an unoptimised build would be several times slower.
#
# COMMERCE_KEEP_FLEET=1 keeps the fleet running after step 7 until Ctrl-C or SIGTERM (README, "A five-minute
# tour"); a copy killed meanwhile is left out of the stop, and a copy started by hand is not
# stopped by this script.
#
# Environment: AMQP_URL, DATABASE_URL, MONGO_URL override the local servers (see
# `commerce smoke --help`); COMMERCE_BUILD_CONFIGURATION=debug builds faster;
# COMMERCE_SCRATCH_PATH sets SwiftPM's build directory (default .build).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

configuration=${COMMERCE_BUILD_CONFIGURATION:-release}
swiftpm=(--scratch-path "${COMMERCE_SCRATCH_PATH:-.build}" -c "$configuration")

summary=()
stage_started=$SECONDS
current=""
begin() { current=$1; stage_started=$SECONDS; printf '\n==> %s\n' "$1"; }
finish() { summary+=("$(printf '  ✓ %-34s %4ss' "$current" $((SECONDS - stage_started)))"); current=""; }
report() {
  local status=$?
  if [ -n "$current" ]; then summary+=("$(printf '  ✗ %-34s %4ss' "$current" $((SECONDS - stage_started)))"); fi
  printf '\n==> summary (%ss)\n' "$SECONDS"
  printf '%s\n' "${summary[@]}"
  if [ "$status" -ne 0 ]; then printf 'run.sh: FAILED at "%s" (exit %s)\n' "$current" "$status"; fi
}
trap report EXIT

if ! command -v swift >/dev/null 2>&1; then
  echo "run.sh: no 'swift' on PATH: install a Swift 6.2 (or newer) toolchain from swift.org first" >&2
  exit 1
fi

begin "services up"
scripts/services.sh up
finish

begin "build ($configuration)"
swift build "${swiftpm[@]}"
bin=$(swift build "${swiftpm[@]}" --show-bin-path)
finish

begin "commerce smoke"
"$bin/commerce" smoke
finish

begin "fresh demo stores"
if [ "${COMMERCE_KEEP_DATA:-}" = 1 ]; then
  echo "keeping the data of earlier runs (COMMERCE_KEEP_DATA=1)"
else
  scripts/services.sh reset-stores
  .venv/bin/python -c "import pymongo; pymongo.MongoClient('mongodb://127.0.0.1:27017/?retryWrites=false').drop_database('notifications')"
  # Messages an interrupted earlier run left in the fleet's queues (and their retry and
  # dead-letter queues) refer to orders the fresh stores no longer hold: a charge for one would
  # be an order the audit cannot account for.
  for queue in $(rabbitmqctl -q list_queues name 2>/dev/null | grep -E '^(order|stock|payment|notification)-worker(\.|$)' || true); do
    rabbitmqctl -q purge_queue "$queue" >/dev/null
  done
fi
finish

# The broker's topology and the stores' schemas as an operator sets them up (idempotent): among
# them the presence stream on which every copy announces itself, which `commerce status` reads to
# find the fleet (the workers' own broker users may not create it; docs/operations.md, "Finding
# the fleet").
begin "commerce setup"
"$bin/commerce" setup
finish

# The fleet: each worker reads config/<worker>.json from this directory; the second stock-worker
# copy only moves its /health port. Logs go to .services/fleet/.
fleet_logs="$root/.services/fleet"
mkdir -p "$fleet_logs"
pids=()
names=()
stop_fleet() {
  local status=0
  for index in "${!pids[@]}"; do kill -TERM "${pids[$index]}" 2>/dev/null || true; done
  for index in "${!pids[@]}"; do
    if ! wait "${pids[$index]}"; then
      echo "run.sh: ${names[$index]} did not exit 0 after SIGTERM (log: $fleet_logs/${names[$index]}.log)" >&2
      status=1
    fi
  done
  pids=()
  return $status
}
# The card processor stops after the fleet: a worker draining its last batch may still call it.
gateway_pid=""
stop_gateway() {
  [ -n "$gateway_pid" ] || return 0
  kill -TERM "$gateway_pid" 2>/dev/null || true
  local status=0
  wait "$gateway_pid" || status=$?
  gateway_pid=""
  if [ "$status" -ne 0 ]; then
    echo "run.sh: payment-gateway did not exit 0 after SIGTERM (log: $fleet_logs/payment-gateway.log)" >&2
    return 1
  fi
}
trap 'code=$?; stop_fleet >/dev/null 2>&1; stop_gateway >/dev/null 2>&1; (exit $code); report' EXIT

start_worker() { # start_worker NAME PORT [VAR=VALUE...]
  local name=$1 port=$2 executable=${1%%#*}
  shift 2
  env "$@" HTTP_PORT="$port" "$bin/$executable" >"$fleet_logs/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

begin "payment-gateway up"
"$bin/payment-gateway" >"$fleet_logs/payment-gateway.log" 2>&1 &
gateway_pid=$!
deadline=$((SECONDS + 60))
until curl -sf "http://127.0.0.1:9180/health" >/dev/null; do
  if ((SECONDS >= deadline)) || ! kill -0 "$gateway_pid" 2>/dev/null; then
    echo "run.sh: payment-gateway is not ready after 60 s; log: $fleet_logs/payment-gateway.log" >&2
    tail -5 "$fleet_logs/payment-gateway.log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "ready: payment-gateway on 127.0.0.1:9180 (admin 127.0.0.1:9181)"
finish

begin "fleet up"
start_worker order-worker 9191
start_worker "stock-worker#1" 9192
start_worker "stock-worker#2" 9195
start_worker payment-worker 9193
start_worker notification-worker 9194
for port in 9191 9192 9195 9193 9194; do
  deadline=$((SECONDS + 60))
  until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "run.sh: the worker on port $port is not ready after 60 s; logs in $fleet_logs" >&2
      tail -5 "$fleet_logs"/*.log >&2
      exit 1
    fi
    sleep 0.2
  done
done
echo "ready: order-worker, stock-worker ×2, payment-worker, notification-worker (logs in $fleet_logs)"
finish

begin "commerce-lab demo"
"$bin/commerce-lab" demo --orders "${COMMERCE_DEMO_ORDERS:-16}" --mix "${COMMERCE_DEMO_MIX:-all}"
finish

begin "commerce queues"
"$bin/commerce" queues
finish

begin "commerce status"
"$bin/commerce" status
finish

# COMMERCE_KEEP_FLEET=1: leave the fleet and the gateway running for the README's tour, until
# Ctrl-C (or one of them exits); they are then stopped as below.
if [ "${COMMERCE_KEEP_FLEET:-}" = 1 ]; then
  begin "fleet kept running"
  echo "the fleet and the payment-gateway keep running: try the README's tour in another terminal."
  echo "Ctrl-C (or SIGTERM to this script) stops them (logs in $fleet_logs)."
  stop_requested=0
  trap 'stop_requested=1' INT TERM
  while [ "$stop_requested" = 0 ]; do sleep 1; done
  trap - INT TERM
  # A copy killed during the tour is not a failure of this run: it is left out of the stop.
  for index in "${!pids[@]}"; do
    if ! kill -0 "${pids[$index]}" 2>/dev/null; then
      wait "${pids[$index]}" 2>/dev/null || echo "${names[$index]} had already exited (killed during the tour?)"
      unset "pids[$index]"
    fi
  done
  finish
fi

begin "fleet down (SIGTERM)"
stop_fleet
stop_gateway
finish
