#!/usr/bin/env bash
# The README's main command: brings everything up and runs the main job.
#
#   scripts/run.sh
#
# 1. scripts/services.sh up: installs what is missing and starts RabbitMQ, PostgreSQL and
#    SecantusDB (MongoDB protocol) on 127.0.0.1;
# 2. builds every executable in release mode;
# 3. runs `commerce smoke` (a message round trip through RabbitMQ, a row in PostgreSQL, a document
#    in MongoDB) and `commerce queues`;
# 4. prints a summary; exits non-zero if any stage failed.
#
# Release, not debug: debug is not much faster to build here. On the 2-core development machine
# a from-scratch build of the `commerce` product with its dependencies took 1 min 49 s in
# release and 1 min 31 s in debug; and the later stages of this script run the worker fleet
# under load, where an unoptimised build would be several times slower.
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

# --- The saga (coming with the worker issues) -----------------------------------------------
# When order-worker, stock-worker, payment-worker and notification-worker exist, this is where
# the script starts the fleet (one process each, from $bin, configured by config/*.json), places
# sample orders with `commerce`, waits until every order is terminal, runs the invariant audit
# and stops the fleet with SIGTERM. Until then the main job is the smoke check above.

begin "commerce queues"
"$bin/commerce" queues
finish
