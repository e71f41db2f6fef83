#!/usr/bin/env bash
# Checks scripts/cluster.sh end to end, as CI runs it (a step of scripts/test.sh): the cluster
# comes up from nothing with three running RabbitMQ nodes and a streaming standby; a client
# reaches it over verified TLS (`commerce smoke`, when COMMERCE_BIN_PATH names the built
# executables); a row written on the primary is read on the standby; a partitioned node is
# seen as gone by the other two and back after `heal`; and `down` leaves nothing behind (no
# namespace, link, hosts line, PostgreSQL cluster, data directory, certificate or process).
# With --drills, it also runs the saga through the cluster's faults (ClusterDrillDisruptiveTests) before
# taking it down; the tests must be built (COMMERCE_BIN_PATH).
# Exits non-zero with the reason on the first failure; the cluster is taken down either way.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cluster="$here/cluster.sh"
TLS_DIR=${COMMERCE_TLS_DIR:-/etc/commerce/tls}
CA="$TLS_DIR/ca.pem"

fail() { printf 'cluster_check: %s\n' "$*" >&2; exit 1; }
step() { printf '[cluster_check] %s\n' "$*" >&2; }
# until SECONDS DESCRIPTION COMMAND...: COMMAND succeeds within SECONDS, or the check fails.
until_true() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what: not within ${seconds}s"
    sleep 1
  done
}
running_nodes() { "$cluster" status 2>/dev/null | grep -c "^$1 .*$2 of 3 nodes running" || true; }
seen_running() { [ "$(running_nodes "$1" "$2")" -eq 1 ]; }

# Live RabbitMQ node processes (a killed one is a zombie until reaped, and counts no more).
beams() { ps -eo stat=,comm= | awk '$2 == "beam.smp" && $1 !~ /^Z/' | wc -l; }
beams_before=$(beams)
trap '"$cluster" down >/dev/null 2>&1 || true; rm -f "${status_errors:-}"' EXIT

step "up"
"$cluster" up >/dev/null
status=$("$cluster" status) || fail "status after up: $status"
for node in rabbit1 rabbit2 rabbit3; do
  grep -q "^$node .*3 of 3 nodes running" <<<"$status" || fail "$node is not one of 3 running nodes: $status"
done
grep -q "^pg-primary up .*(primary)" <<<"$status" || fail "no primary: $status"
grep -q "^pg-standby up .*(standby)" <<<"$status" || fail "no standby: $status"

pg_url="postgres://order_worker:commerce@10.77.0.22:5432,10.77.0.21:5432/orders?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=$CA"
if [ -n "${COMMERCE_BIN_PATH:-}" ] && [ -x "$COMMERCE_BIN_PATH/commerce" ]; then
  step "commerce smoke over TLS: nodes 2 and 3, the PostgreSQL hosts standby first"
  amqp_url="amqps://commerce:commerce@cm-rabbit2:5671/%2F?cacertfile=$CA,amqps://commerce:commerce@cm-rabbit3:5671/%2F?cacertfile=$CA"
  smoke=$("$COMMERCE_BIN_PATH/commerce" smoke --amqp-url "$amqp_url" --database-url "$pg_url" --json 2>/dev/null || true)
  python3 - "$smoke" <<'PY' || fail "commerce smoke against the cluster: $smoke"
import json, sys
report = json.loads(sys.argv[1])
steps = [s for s in report.get("steps", []) if s.get("component") in ("rabbitmq", "postgresql")]
components = {s["component"] for s in steps}
sys.exit(0 if components == {"rabbitmq", "postgresql"} and all(s.get("passed") for s in steps) else 1)
PY
fi

step "a row written on the primary is read on the standby"
marker="check-$RANDOM$RANDOM"
PGPASSWORD=commerce psql -X -q "$pg_url" -c "create table if not exists cluster_check (marker text); insert into cluster_check values ('$marker')"
standby_has() {
  [ "$(PGPASSWORD=commerce psql -X -tA "host=10.77.0.22 dbname=orders user=order_worker sslmode=verify-full sslrootcert=$CA" \
    -c "select count(*) from cluster_check where marker = '$marker'")" = 1 ]
}
until_true 20 "the row on the standby" standby_has

# `commerce status --json` against the cluster, as an operator: the nodes and a quorum queue's
# replicas from the management API, the standby from pg_stat_replication (as commerce_reader).
status_queue=cluster-check.status
# Its standard error, kept out of the JSON on standard output.
status_errors=$(mktemp)
status_json() {
  local stores=() store
  for store in orders inventory payments; do
    stores+=("--$store-database" "postgresql://commerce_reader:commerce@10.77.0.21:5432/$store?sslmode=verify-full&sslrootcert=$CA&connect_timeout=5")
  done
  # A worker endpoint nothing listens on: the status must not read another fleet's copies.
  # MONGOC_DISABLE_SHM: libmongoc's one-line warning where it cannot use shared memory (this
  # sandbox) goes to standard error, which is kept apart from the JSON anyway (below).
  MONGOC_DISABLE_SHM=1 "$COMMERCE_BIN_PATH/commerce" status --amqp-url "amqp://commerce:commerce@10.77.0.11:5672/%2F" \
    --queue "$status_queue" --no-discovery --interval 0.2 --worker http://127.0.0.1:9 "${stores[@]}" --json
}
if [ -n "${COMMERCE_BIN_PATH:-}" ] && [ -x "$COMMERCE_BIN_PATH/commerce" ]; then
  step "commerce status: 3 running nodes, a quorum queue with a leader and 3 members, a streaming standby"
  curl -sf -u commerce:commerce -X PUT -H 'content-type: application/json' \
    -d '{"durable":true,"arguments":{"x-queue-type":"quorum","x-quorum-initial-group-size":3}}' \
    "http://10.77.0.11:15672/api/queues/%2F/$status_queue" >/dev/null || fail "cannot declare $status_queue through the management API"
  status_report=$(status_json 2>"$status_errors") || fail "commerce status against the cluster: $status_report $(cat "$status_errors")"
  python3 - "$status_report" "$status_queue" <<'PY' || fail "commerce status against the cluster: $status_report"
import json, sys
cluster = json.loads(sys.argv[1])["cluster"]
nodes = cluster["broker"]["nodes"]
assert len(nodes) == 3 and all(n["running"] and not n["partitions"] for n in nodes), nodes
queues = cluster["broker"]["queues"]
assert [q["name"] for q in queues] == [sys.argv[2]], queues
assert queues[0]["leader"] and len(queues[0]["members"]) == 3, queues
standbys = {json.dumps(s) for r in cluster["replication"] for s in (r["standbys"] or []) if s["state"] == "streaming"}
assert len(standbys) >= 1 and all(r["role"] == "primary" and r["standbys"] for r in cluster["replication"]), cluster["replication"]
PY
fi

if [ "${1:-}" = --drills ]; then
  # The saga through node loss, a partition and a database failover (ClusterDrillDisruptiveTests), with
  # the test servers' URLs pointing here: the test's own connection on rabbit3 alone, the one
  # node the drills leave alone (its own partition comes after them).
  step "the cluster drills (Tests/ServiceTests/ClusterDrillDisruptiveTests.swift)"
  drill_log=$(mktemp)
  drills_started=$SECONDS
  COMMERCE_TEST_AMQP_URL="amqp://commerce:commerce@10.77.0.13:5672/%2F" \
    COMMERCE_TEST_POSTGRES_URL="postgresql://commerce:commerce@10.77.0.21:5432,10.77.0.22:5432/commerce_test?target_session_attrs=read-write&connect_timeout=5" \
    swift test --package-path "$here/.." --scratch-path "${COMMERCE_SCRATCH_PATH:-$here/../.build}" --skip-build \
    --filter ClusterDrillDisruptiveTests 2>&1 | tee "$drill_log" || true
  # A filter that matches nothing passes with 0 tests: the drill must have run.
  # Each drill's figures (orders/s before, during and after, longest gap, p99), together.
  step "cluster drill figures ($((SECONDS - drills_started)) s):"
  grep -o "cluster drill figures: .*" "$drill_log" | sed 's/^cluster drill figures: /  /' >&2 || true
  grep -qE "Test run with [1-9][0-9]* tests? .*passed" "$drill_log" || { rm -f "$drill_log"; fail "the cluster drills failed or did not run"; }
  rm -f "$drill_log"
fi

# Last, as nothing needs rabbit3 afterwards: a node that paused for the minority was seen to take
# more than 90 s to count itself among the running nodes again after the partition healed, and
# the drills' own connection is on rabbit3.
step "partition rabbit3: the other two see 2 of 3 nodes"
until_true 120 "rabbit1 seeing all three nodes running" seen_running rabbit1 3
"$cluster" partition rabbit3
until_true 90 "rabbit1 seeing rabbit3 gone" seen_running rabbit1 2
if [ -n "${COMMERCE_BIN_PATH:-}" ] && [ -x "$COMMERCE_BIN_PATH/commerce" ]; then
  step "commerce status: rabbit3 reported not running or partitioned"
  status_report=$(status_json 2>"$status_errors") || fail "commerce status with rabbit3 partitioned: $status_report $(cat "$status_errors")"
  python3 - "$status_report" <<'PY' || fail "commerce status with rabbit3 partitioned: $status_report"
import json, sys
nodes = {n["name"]: n for n in json.loads(sys.argv[1])["cluster"]["broker"]["nodes"]}
rabbit3 = nodes["rabbit@cm-rabbit3"]
others = [n for name, n in nodes.items() if name != "rabbit@cm-rabbit3"]
assert len(nodes) == 3 and all(n["running"] for n in others), nodes
assert not rabbit3["running"] or rabbit3["partitions"], nodes
PY
fi
"$cluster" heal

step "down leaves nothing behind"
"$cluster" down >/dev/null 2>&1
trap - EXIT
rm -f "$status_errors"
left=()
ip netns list | grep -q '^cm-' && left+=("network namespaces: $(ip netns list | grep '^cm-' | tr '\n' ' ')")
ip link show cm-cluster0 >/dev/null 2>&1 && left+=("the bridge cm-cluster0")
grep -q "commerce cluster" /etc/hosts && left+=("lines in /etc/hosts")
pg_lsclusters -h 2>/dev/null | awk '$2 ~ /^cm_/' | grep -q . && left+=("PostgreSQL clusters: $(pg_lsclusters -h | awk '$2 ~ /^cm_/ {print $2}' | tr '\n' ' ')")
ls -d /etc/postgresql/*/cm_* /var/lib/postgresql/*/cm_* >/dev/null 2>&1 && left+=("PostgreSQL directories")
[ -e /var/lib/commerce-cluster ] && left+=("/var/lib/commerce-cluster")
ls "$TLS_DIR"/cluster* >/dev/null 2>&1 && left+=("certificates $TLS_DIR/cluster*")
# A SIGKILLed node may take a moment to go: 30 s at most.
nodes_gone() { [ "$(beams)" -le "$beams_before" ]; }
deadline=$((SECONDS + 30))
until nodes_gone || ((SECONDS >= deadline)); do sleep 1; done
beams_after=$(beams)
[ "$beams_after" -gt "$beams_before" ] && left+=("$((beams_after - beams_before)) RabbitMQ node process(es)")
if [ ${#left[@]} -gt 0 ]; then fail "down left: ${left[*]}"; fi
step "passed in ${SECONDS} s"
