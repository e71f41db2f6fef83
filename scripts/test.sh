#!/usr/bin/env bash
# The README's test command, and the whole of CI (.ci/run calls exactly this):
#
#   scripts/test.sh
#
# 1. scripts/services.sh up: installs what is missing and starts RabbitMQ, PostgreSQL and
#    SecantusDB on 127.0.0.1 (tests never mock them: they fail, with a hint, if one is down);
# 2. builds every target and test target (debug);
# 3. checks that docs/architecture.md's module map is the one Package.swift gives
#    (scripts/module_map.py);
# 4. checks the deployment kit with each ecosystem's tool (deploy/check.sh: systemd-analyze,
#    promtool, hadolint, the Kubernetes and KEDA schemas; COMMERCE_DEPLOY_IMAGE=1 also builds the
#    image with podman and runs a worker in it, a few minutes more on a fresh machine);
# 5. runs every test target (DomainTests, RuntimeTests, ServiceTests, OperationsTests, CardProcessorTests:
#    one per area, docs/architecture.md "Tests") except the disruptive tests, in parallel;
# 6. runs the disruptive tests (any test whose suite or name contains `Disruptive`: they restart
#    RabbitMQ or stop PostgreSQL) on their own, one at a time, because they would break every
#    test running beside them; all but the cluster drills (`ClusterDrill…`), which fail without
#    the cluster of step 7 and run there;
# 7. checks the local cluster script and runs the cluster drills (scripts/cluster_check.sh
#    --drills, docs/cluster.md).
# Exits non-zero if the build, the map check, the kit's check, a test run or the cluster check
# fails. Test output goes to the console.
#
# Integration tests find the built executables (probe-worker, commerce, commerce-lab …) in
# COMMERCE_BIN_PATH.
# COMMERCE_SCRATCH_PATH sets SwiftPM's build directory (default .build).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

swiftpm=(--scratch-path "${COMMERCE_SCRATCH_PATH:-.build}")
started=$SECONDS
log() { printf '\n==> %s\n' "$*"; }

if ! command -v swift >/dev/null 2>&1; then
  echo "test.sh: no 'swift' on PATH: install a Swift 6.2 (or newer) toolchain from swift.org first" >&2
  exit 1
fi

targets=(DomainTests RuntimeTests ServiceTests OperationsTests CardProcessorTests)
# Every folder of Swift files under Tests/ is a test target of the list or the shared
# CommerceTestKit: a folder Package.swift does not name is compiled by nobody, and its tests
# would silently never run.
for folder in Tests/*/; do
  name=$(basename "$folder")
  if [ "$name" != CommerceTestKit ] && [[ ! " ${targets[*]} " =~ " $name " ]] \
    && compgen -G "$folder*.swift" >/dev/null; then
    echo "test.sh: Tests/$name is no test target: move its files into one of ${targets[*]}" >&2
    exit 1
  fi
done

log "services up"
scripts/services.sh up

log "build (debug, with tests)"
swift build "${swiftpm[@]}" --build-tests
COMMERCE_BIN_PATH="$(swift build "${swiftpm[@]}" --show-bin-path)"
export COMMERCE_BIN_PATH

# The list is read into a variable, not piped into `grep -q`: grep stopping early would kill
# `swift test list` with SIGPIPE, and pipefail would turn a match into a failure.
tests=$(swift test list "${swiftpm[@]}" --skip-build)
for target in "${targets[@]}"; do
  # Test ids are `Target.Suite/test()` (XCTest: `Target.Class/test`).
  count=$(grep -cE "^$target[./]" <<<"$tests" || true)
  echo "  $target: $count tests"
  if [ "$count" -eq 0 ]; then echo "test.sh: test target $target has no tests (or did not build)" >&2; exit 1; fi
done

# A test run that hangs (seen once: `swift test` stopped in sigsuspend while printing a failure)
# would use up CI's whole time instead of failing: each run gets a bound far above its usual
# time (3 and 5 minutes), then SIGTERM, and SIGKILL a minute later.
bounded() {
  local limit=$1
  shift
  local rc=0
  timeout --kill-after=60 "$limit" "$@" || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "test.sh: '$*' did not end within ${limit} s: stopped" >&2; fi
  return "$rc"
}

status=0
log "module map (docs/architecture.md against Package.swift)"
mapcheck=0
python3 scripts/module_map.py --check docs/architecture.md || mapcheck=1
status=$mapcheck

log "deployment kit (deploy/check.sh)"
kitcheck=0
deploy/check.sh $([ "${COMMERCE_DEPLOY_IMAGE:-0}" = 1 ] && echo --image) || kitcheck=1
status=$((status | kitcheck))

log "tests (all but Disruptive)"
testrun=0
bounded 1500 swift test "${swiftpm[@]}" --skip-build --skip Disruptive || testrun=1
status=$((status | testrun))
results=("module map: $([ $mapcheck -eq 0 ] && echo matches || echo DIFFERS)")
results+=("deployment kit: $([ $kitcheck -eq 0 ] && echo passed || echo FAILED)")
results+=("all but Disruptive: $([ $testrun -eq 0 ] && echo passed || echo FAILED)")

if grep -q Disruptive <<<"$tests"; then
  log "tests (Disruptive, one at a time)"
  disruptive=0
  # The cluster drills need the cluster of step 7, which runs them itself: left out here.
  bounded 2400 swift test "${swiftpm[@]}" --skip-build --filter Disruptive --skip ClusterDrill --no-parallel || disruptive=1
  results+=("Disruptive: $([ $disruptive -eq 0 ] && echo passed || echo FAILED)")
  status=$((status | disruptive))
else
  results+=("Disruptive: none defined yet")
fi

# The local cluster (docs/cluster.md): up from nothing, reached over TLS, replicating, a partition
# seen and healed, and down leaving nothing behind. Where network namespaces cannot be made (no
# root, a sandbox without them), the step says so and is skipped.
log "cluster (scripts/cluster_check.sh)"
if [ "$(id -u)" = 0 ] && ip netns add cm-probe 2>/dev/null && ip netns del cm-probe; then
  clustercheck=0
  scripts/cluster_check.sh --drills || clustercheck=1
  results+=("cluster: $([ $clustercheck -eq 0 ] && echo passed || echo FAILED)")
  status=$((status | clustercheck))
else
  results+=("cluster: SKIPPED (network namespaces cannot be made here)")
fi

# A disruptive test that fails half-way may leave a server stopped: say so rather than leave
# the next person guessing.
scripts/services.sh status >/dev/null || echo "test.sh: a server is down after the tests: run scripts/services.sh up" >&2

log "summary ($((SECONDS - started))s)"
printf '  %s\n' "${results[@]}"
exit $status
