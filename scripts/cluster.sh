#!/usr/bin/env bash
# A local cluster for the fleet to run on: three RabbitMQ nodes clustered together and a
# PostgreSQL primary with a streaming standby, each in a network namespace of its own on a test
# network this script makes (a bridge and veth pairs), so that a partition is a link taken down,
# not a process stopped. docs/cluster.md says what it is for and how the fleet is pointed at it.
#
#   scripts/cluster.sh up       make the network, start and cluster the nodes, the primary and the
#                               standby; create the broker users and database roles of
#                               docs/security.md on them (idempotent)
#   scripts/cluster.sh down     stop everything and remove the network, the namespaces, the hosts
#                               entries, the data directories and the PostgreSQL clusters
#   scripts/cluster.sh status   what answers (exit 1 if anything does not)
#   scripts/cluster.sh partition NODE   cut NODE's link to the network (its processes keep running)
#   scripts/cluster.sh heal [NODE]      restore NODE's link (every node's without NODE)
#   scripts/cluster.sh stop NODE        a crash: a RabbitMQ node's application stopped (its clients
#                                       disconnected), or PostgreSQL stopped in immediate mode
#   scripts/cluster.sh start NODE       start it again
#   scripts/cluster.sh promote          the standby becomes the primary (after the primary is lost)
#   scripts/cluster.sh addresses        the URLs a client uses (AMQP list, PostgreSQL multi-host)
#   scripts/cluster.sh queues           each quorum queue's leader and members, one line each
#                                       (name, leader, members comma-separated), from the first
#                                       node that answers
#
# NODE is rabbit1, rabbit2, rabbit3, pg-primary or pg-standby. Traffic goes only to the
# addresses below, on the network the script made; nothing listens on any other interface.
# Needs root and iproute2 (namespaces); the standalone servers of scripts/services.sh keep
# running beside it on loopback.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=services.sh
source "$here/services.sh"
log() { printf '[cluster] %s\n' "$*" >&2; }
# The servers' own users (rabbitmq, postgres) run commands here, and a checkout may be a directory
# only root can enter (mktemp -d): Erlang then fails to read its working directory.
cd /

NET_PREFIX=${COMMERCE_CLUSTER_NET:-10.77.0}
BRIDGE=cm-cluster0
HOST_ADDRESS="$NET_PREFIX.1"
CLUSTER_STATE=/var/lib/commerce-cluster
PG_VERSION=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
PG_PORT=5432
HOSTS_BEGIN="# commerce cluster: begin (scripts/cluster.sh manages these lines)"
HOSTS_END="# commerce cluster: end"
REPLICATION_ROLE=replicator
# The RabbitMQ management HTTP API of each node (plain HTTP, on the node's address only).
MANAGEMENT_PORT=15672

# name namespace address: every node of the cluster.
NODES=(
  "rabbit1 cm-rabbit1 $NET_PREFIX.11"
  "rabbit2 cm-rabbit2 $NET_PREFIX.12"
  "rabbit3 cm-rabbit3 $NET_PREFIX.13"
  "pg-primary cm-pg-primary $NET_PREFIX.21"
  "pg-standby cm-pg-standby $NET_PREFIX.22"
)
RABBIT_NODES=(rabbit1 rabbit2 rabbit3)

node_field() { # node_field NAME FIELD(1 name, 2 namespace, 3 address)
  local entry
  for entry in "${NODES[@]}"; do
    read -r -a parts <<<"$entry"
    if [ "${parts[0]}" = "$1" ]; then echo "${parts[$2 - 1]}"; return; fi
  done
  echo "unknown node '$1' (rabbit1, rabbit2, rabbit3, pg-primary, pg-standby)" >&2
  exit 2
}
namespace_of() { node_field "$1" 2; }
address_of() { node_field "$1" 3; }
veth_of() { echo "cmv-$1" | cut -c1-15; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# --- the network --------------------------------------------------------------
network_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "making the test network $NET_PREFIX.0/24 on bridge $BRIDGE"
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST_ADDRESS/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  local entry name ns address veth
  for entry in "${NODES[@]}"; do
    read -r name ns address <<<"$entry"
    veth=$(veth_of "$name")
    if ! ip netns list | grep -qw "$ns"; then ip netns add "$ns"; fi
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip link add "$veth" type veth peer name eth0 netns "$ns"
      in_ns "$ns" ip addr add "$address/24" dev eth0
    fi
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    in_ns "$ns" ip link set lo up
    in_ns "$ns" ip link set eth0 up
  done
  hosts_entries
}

# The nodes' names in /etc/hosts, between markers: RabbitMQ nodes are named rabbit@cm-rabbitN
# and find each other (and the CLI finds them) through these names.
hosts_entries() {
  hosts_remove
  {
    echo "$HOSTS_BEGIN"
    local entry name ns address
    for entry in "${NODES[@]}"; do
      read -r name ns address <<<"$entry"
      echo "$address $ns"
    done
    echo "$HOSTS_END"
  } >>/etc/hosts
}
hosts_remove() {
  # /etc/hosts may be a bind mount: rewritten in place, never replaced.
  local kept
  kept=$(awk -v begin="$HOSTS_BEGIN" -v end="$HOSTS_END" \
    '$0 == begin { skip = 1 } !skip { print } $0 == end { skip = 0 }' /etc/hosts)
  printf '%s\n' "$kept" >/etc/hosts
}

network_down() {
  local entry name ns address
  for entry in "${NODES[@]}"; do
    read -r name ns address <<<"$entry"
    ip link del "$(veth_of "$name")" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  hosts_remove
}

partition() {
  local name=$1
  log "partitioning $name: its link is down, its processes keep running"
  ip link set "$(veth_of "$name")" down
}

heal() {
  local entry name ns address
  for entry in "${NODES[@]}"; do
    read -r name ns address <<<"$entry"
    if [ -n "${1:-}" ] && [ "$1" != "$name" ]; then continue; fi
    ip link set "$(veth_of "$name")" up
  done
  log "healed ${1:-every link}"
}

# --- TLS ----------------------------------------------------------------------
cluster_certificate() {
  certificates
  local names="" entry name ns address
  for entry in "${NODES[@]}"; do
    read -r name ns address <<<"$entry"
    # The address as a DNS entry too: rabbitmq-c compares DNS names only.
    names+="DNS:$ns,DNS:$address,IP:$address,"
  done
  issue_certificate cluster "/CN=commerce local cluster" "subjectAltName=${names%,}
extendedKeyUsage=serverAuth"
  install -o rabbitmq -g rabbitmq -m 600 "$TLS_DIR/cluster.key" "$TLS_DIR/cluster-rabbitmq.key"
  install -o postgres -g postgres -m 600 "$TLS_DIR/cluster.key" "$TLS_DIR/cluster-postgresql.key"
  chmod 644 "$TLS_DIR/cluster.pem"
}

# --- RabbitMQ -------------------------------------------------------------------
rabbit_dir() { echo "$CLUSTER_STATE/$1"; }
rabbit_env() { # rabbit_env NODE: the environment a node and its CLI run with
  local dir
  dir=$(rabbit_dir "$1")
  echo HOME=/var/lib/rabbitmq RABBITMQ_NODENAME="rabbit@$(namespace_of "$1")" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq" RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
}
# rabbitmqctl run in NODE's namespace against NODE, as the rabbitmq user (its Erlang cookie).
node_ctl() {
  local node=$1; shift
  # shellcheck disable=SC2046
  in_ns "$(namespace_of "$node")" runuser -u rabbitmq -- env -C /var/lib/rabbitmq $(rabbit_env "$node") \
    /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "rabbit@$(namespace_of "$node")" "$@"
}
rabbit_node_answers() { node_ctl "$1" status >/dev/null 2>&1 && nc -z "$(address_of "$1")" 5672; }

rabbit_node_up() {
  local node=$1 dir address
  dir=$(rabbit_dir "$node") address=$(address_of "$node")
  mkdir -p "$dir/log" "$dir/mnesia"
  chown -R rabbitmq:rabbitmq "$dir"
  printf 'NODE_IP_ADDRESS=%s\n' "$address" >"$dir/rabbitmq-env.conf"
  # The management plugin: `commerce status` reads nodes, alarms, partitions and each quorum
  # queue's leader and members from its HTTP API (/api/nodes, /api/queues), on the node's own
  # address only, as AMQP on 5672.
  echo '[rabbitmq_management].' >"$dir/enabled_plugins"
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = $address:5672
listeners.ssl.default = $address:$AMQPS_PORT
ssl_options.cacertfile = $TLS_DIR/ca.pem
ssl_options.certfile = $TLS_DIR/cluster.pem
ssl_options.keyfile = $TLS_DIR/cluster-rabbitmq.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
loopback_users = none
max_message_size = $AMQP_MAX_MESSAGE_SIZE
cluster_partition_handling = pause_minority
# A partitioned peer is noticed in about 10 to 15 s instead of RabbitMQ's default of about a
# minute, so that the partition drills finish in CI time.
net_ticktime = 10
management.tcp.ip = $address
management.tcp.port = $MANAGEMENT_PORT
CONF
  if rabbit_node_answers "$node"; then return; fi
  log "starting RabbitMQ node rabbit@$(namespace_of "$node") on $address"
  # shellcheck disable=SC2046
  in_ns "$(namespace_of "$node")" runuser -u rabbitmq -- env -C /var/lib/rabbitmq $(rabbit_env "$node") \
    setsid /usr/lib/rabbitmq/bin/rabbitmq-server >>"$dir/log/console.log" 2>&1 </dev/null &
  wait_for 120 "RabbitMQ node $node" rabbit_node_answers "$node" || { tail -20 "$dir/log/console.log" >&2; return 1; }
}

# Nodes 2 and 3 join node 1's cluster (once; a node already in it is left alone).
rabbit_cluster() {
  local first="rabbit@$(namespace_of rabbit1)" node
  for node in "${RABBIT_NODES[@]:1}"; do
    if node_ctl "$node" cluster_status --formatter json 2>/dev/null | grep -q "\"$first\""; then continue; fi
    log "rabbit@$(namespace_of "$node") joins $first"
    # The node logs to the console while it joins: kept in its log, shown only on failure.
    local output
    output=$(node_ctl "$node" stop_app 2>&1 && node_ctl "$node" reset 2>&1 \
      && node_ctl "$node" join_cluster "$first" 2>&1 && node_ctl "$node" start_app 2>&1) \
      || { printf '%s\n' "$output" >&2; return 1; }
    printf '%s\n' "$output" >>"$(rabbit_dir "$node")/log/console.log"
  done
  node_ctl rabbit1 await_online_nodes 3 --timeout 120 >/dev/null
}

# The same users, permissions and topic permissions as the standalone broker (services.sh),
# made through node 1: the cluster shares them.
rabbit_cluster_users() {
  rabbitmqctl() { node_ctl rabbit1 "$@"; }
  local users
  users=$(rabbitmqctl list_users 2>/dev/null | awk '{print $1}')
  if ! grep -qx "$AMQP_USER" <<<"$users"; then rabbitmqctl add_user "$AMQP_USER" "$AMQP_PASSWORD" >/dev/null; fi
  rabbitmqctl set_permissions -p / "$AMQP_USER" '.*' '.*' '.*' >/dev/null
  rabbitmqctl set_user_tags "$AMQP_USER" monitoring >/dev/null
  rabbit_identities
  unset -f rabbitmqctl
}

rabbit_nodes_down() {
  local node dir pid
  for node in "${RABBIT_NODES[@]}"; do
    dir=$(rabbit_dir "$node")
    [ -d "$dir" ] || continue
    node_ctl "$node" stop >/dev/null 2>&1 || true
    if [ -s "$dir/pid" ]; then
      pid=$(cat "$dir/pid")
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  # Whatever a namespace still runs (an epmd, a node that did not stop) goes with it.
  local entry name ns address
  for entry in "${NODES[@]}"; do
    read -r name ns address <<<"$entry"
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    fi
  done
  # A killed process is gone only once the kernel has reaped it: wait, so that `down` returns
  # with no node left running.
  namespaces_empty() {
    local entry name ns address
    for entry in "${NODES[@]}"; do
      read -r name ns address <<<"$entry"
      if ip netns list | grep -qw "$ns" && [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; then return 1; fi
    done
  }
  wait_for 20 "the cluster's processes to exit" namespaces_empty || true
  # And by name, where `ip netns pids` cannot see into a namespace (some sandboxes): every
  # process of a node named rabbit@cm-rabbitN, until none is left.
  pkill -9 -f "rabbit@cm-rabbit[0-9]" 2>/dev/null || true
  nodes_gone() { ! pgrep -f "rabbit@cm-rabbit[0-9]" >/dev/null; }
  wait_for 20 "the cluster's RabbitMQ nodes to exit" nodes_gone || true
}

# --- PostgreSQL -------------------------------------------------------------------
pg_cluster_name() { echo "cm_${1//-/_}"; } # pg-primary → cm_pg_primary
pg_cluster_exists() { pg_lsclusters -h 2>/dev/null | awk -v c="$(pg_cluster_name "$1")" '$2 == c { found = 1 } END { exit !found }'; }
pg_node_answers() { pg_isready -q -h "$(address_of "$1")" -p "$PG_PORT"; }
pg_socket_dir() { echo "/var/run/postgresql/$(pg_cluster_name "$1")"; }

pg_node_configure() {
  local node=$1 cluster conf
  cluster=$(pg_cluster_name "$node")
  conf=/etc/postgresql/$PG_VERSION/$cluster
  install -d -o postgres -g postgres "$(pg_socket_dir "$node")"
  cat >"$conf/conf.d/cluster.conf" <<CONF
listen_addresses = '$(address_of "$node")'
port = $PG_PORT
unix_socket_directories = '$(pg_socket_dir "$node")'
max_connections = 300
wal_level = replica
max_wal_senders = 10
hot_standby = on
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '$TLS_DIR/cluster.pem'
ssl_key_file = '$TLS_DIR/cluster-postgresql.key'
ssl_ca_file = '$TLS_DIR/ca.pem'
CONF
  cat >"$conf/pg_hba.conf" <<HBA
local all postgres peer
host all all $NET_PREFIX.0/24 scram-sha-256
host replication $REPLICATION_ROLE $NET_PREFIX.0/24 scram-sha-256
HBA
}

pg_node_start() {
  local node=$1
  if pg_node_answers "$node"; then return; fi
  log "starting PostgreSQL $node on $(address_of "$node")"
  in_ns "$(namespace_of "$node")" pg_ctlcluster "$PG_VERSION" "$(pg_cluster_name "$node")" start
  wait_for 60 "PostgreSQL $node" pg_node_answers "$node"
}

pg_primary_up() {
  local cluster
  cluster=$(pg_cluster_name pg-primary)
  if ! pg_cluster_exists pg-primary; then
    log "creating PostgreSQL cluster $PG_VERSION/$cluster"
    pg_createcluster "$PG_VERSION" "$cluster" -p "$PG_PORT" >/dev/null 2>&1
  fi
  pg_node_configure pg-primary
  pg_node_start pg-primary
  # services.sh's role functions, run over the primary's own socket.
  export PGHOST
  PGHOST=$(pg_socket_dir pg-primary)
  psql_script postgres <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = '$PG_ROLE') then
    create role $PG_ROLE login createdb password '$PG_PASSWORD';
  end if;
  if not exists (select from pg_roles where rolname = '$REPLICATION_ROLE') then
    create role $REPLICATION_ROLE login replication password '$PG_PASSWORD';
  end if;
end \$\$;
SQL
  for db in "${PG_DATABASES[@]}"; do
    if ! su postgres -c "psql -X -tAc \"select 1 from pg_database where datname = '$db'\"" | grep -q 1; then
      psql_admin "-c \"create database $db owner $PG_ROLE\""
    fi
  done
  pg_service_roles
  unset PGHOST
}

pg_standby_up() {
  local cluster data
  cluster=$(pg_cluster_name pg-standby)
  data=/var/lib/postgresql/$PG_VERSION/$cluster
  if ! pg_cluster_exists pg-standby; then
    log "creating PostgreSQL standby $PG_VERSION/$cluster from a base backup of the primary"
    pg_createcluster "$PG_VERSION" "$cluster" -p "$PG_PORT" >/dev/null 2>&1
    rm -rf "$data"
    su postgres -c "PGPASSWORD=$PG_PASSWORD pg_basebackup -h $(address_of pg-primary) -p $PG_PORT \
      -U $REPLICATION_ROLE -D $data -R -X stream --checkpoint=fast" >/dev/null
  fi
  pg_node_configure pg-standby
  pg_node_start pg-standby
  # Synchronous replication: a commit returns once the standby has it on disk, so promoting the
  # standby loses nothing the primary confirmed. Turned on only now that a standby streams:
  # before, every commit (the roles above) would wait for one.
  PGHOST=$(pg_socket_dir pg-primary) psql_admin "-c \"alter system set synchronous_standby_names = '*'\"" \
    "-c 'select pg_reload_conf()'" >/dev/null
  streams_synchronously() {
    [ "$(PGHOST=$(pg_socket_dir pg-primary) su postgres -c "psql -X -tAc \"select count(*) from pg_stat_replication where sync_state = 'sync'\"")" = 1 ]
  }
  wait_for 30 "the standby to stream synchronously" streams_synchronously
}

pg_nodes_down() {
  local node cluster
  for node in pg-standby pg-primary; do
    cluster=$(pg_cluster_name "$node")
    if pg_cluster_exists "$node"; then
      pg_ctlcluster "$PG_VERSION" "$cluster" stop -m immediate >/dev/null 2>&1 || true
      pg_dropcluster "$PG_VERSION" "$cluster" >/dev/null 2>&1 || true
    fi
    # What pg_dropcluster leaves: the configuration directory holding our conf.d file.
    rm -rf "/etc/postgresql/$PG_VERSION/$cluster" "/var/lib/postgresql/$PG_VERSION/$cluster"
    rm -rf "$(pg_socket_dir "$node")"
  done
}

node_stop() {
  case "$1" in
    rabbit*) log "stopping RabbitMQ on $1 (stop_app: its clients are disconnected)"; node_ctl "$1" stop_app ;;
    pg-*) log "stopping PostgreSQL $1 (immediate: as a crash)"
      pg_ctlcluster "$PG_VERSION" "$(pg_cluster_name "$1")" stop -m immediate ;;
  esac
}
node_start() {
  case "$1" in
    rabbit*) log "starting RabbitMQ on $1"; node_ctl "$1" start_app; node_ctl "$1" await_startup ;;
    pg-*) in_ns "$(namespace_of "$1")" pg_ctlcluster "$PG_VERSION" "$(pg_cluster_name "$1")" start
      wait_for 60 "PostgreSQL $1" pg_node_answers "$1" ;;
  esac
}
promote() {
  log "promoting the standby"
  pg_ctlcluster "$PG_VERSION" "$(pg_cluster_name pg-standby)" promote
  is_primary() { [ "$(PGHOST=$(pg_socket_dir pg-standby) su postgres -c "psql -X -tAc 'select pg_is_in_recovery()'")" = f ]; }
  wait_for 30 "the promoted standby to accept writes" is_primary
}

# --- commands -------------------------------------------------------------------------
cluster_up() {
  [ "$(id -u)" = 0 ] || { echo "scripts/cluster.sh needs root (network namespaces)" >&2; exit 1; }
  install_missing
  network_up
  cluster_certificate
  local node
  for node in "${RABBIT_NODES[@]}"; do rabbit_node_up "$node"; done
  rabbit_cluster
  rabbit_cluster_users
  pg_primary_up
  pg_standby_up
  cluster_status
}

cluster_down() {
  log "stopping the cluster and removing its network"
  rabbit_nodes_down
  pg_nodes_down
  network_down
  rm -rf "$CLUSTER_STATE"
  rm -f "$TLS_DIR/cluster.pem" "$TLS_DIR/cluster.key" "$TLS_DIR/cluster-rabbitmq.key" "$TLS_DIR/cluster-postgresql.key"
}

addresses() {
  local urls="" node
  for node in "${RABBIT_NODES[@]}"; do urls+="amqp://$(address_of "$node"):5672,"; done
  echo "amqp        ${urls%,}"
  echo "postgresql  postgres://$(address_of pg-primary):$PG_PORT,$(address_of pg-standby):$PG_PORT/DATABASE?target_session_attrs=read-write"
}

cluster_status() {
  local rc=0 node running
  for node in "${RABBIT_NODES[@]}"; do
    if rabbit_node_answers "$node"; then
      running=$(node_ctl "$node" cluster_status --formatter json 2>/dev/null \
        | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("running_nodes", [])))' 2>/dev/null || echo "?")
      echo "$node    up   amqp://$(address_of "$node"):5672 (rabbit@$(namespace_of "$node"), $running of 3 nodes running)"
    else
      echo "$node    down or unreachable from this host"; rc=1
    fi
  done
  for node in pg-primary pg-standby; do
    if pg_node_answers "$node"; then
      local role
      role=$(PGHOST=$(pg_socket_dir "$node") su postgres -c "psql -X -tAc 'select case when pg_is_in_recovery() then \$\$standby\$\$ else \$\$primary\$\$ end'" 2>/dev/null || echo "?")
      echo "$node up   postgres://$(address_of "$node"):$PG_PORT ($role)"
    else
      echo "$node down or unreachable from this host"; rc=1
    fi
  done
  return $rc
}

# name<TAB>leader<TAB>member,member,… for every quorum queue, asked of the first node that
# answers (a stopped or paused node does not).
cluster_queues() {
  local node output
  for node in "${RABBIT_NODES[@]}"; do
    output=$(node_ctl "$node" list_queues name type leader members --formatter json --timeout 15 2>/dev/null) || continue
    python3 -c '
import json, sys
for queue in json.loads(sys.argv[1] or "[]"):
    if queue.get("type") in ("quorum", "rabbit_quorum_queue"):
        members = queue.get("members") or []
        print("%s\t%s\t%s" % (queue["name"], queue.get("leader", ""), ",".join(members)))
' "$output" && return 0
  done
  echo "no RabbitMQ node of the cluster answers" >&2
  return 1
}

case "${1:-}" in
  up) cluster_up ;;
  down) cluster_down ;;
  status) cluster_status ;;
  addresses) addresses ;;
  partition) [ -n "${2:-}" ] || { echo "usage: $0 partition NODE" >&2; exit 2; }; address_of "$2" >/dev/null; partition "$2" ;;
  heal) if [ -n "${2:-}" ]; then address_of "$2" >/dev/null; fi; heal "${2:-}" ;;
  stop|start) [ -n "${2:-}" ] || { echo "usage: $0 $1 NODE" >&2; exit 2; }; address_of "$2" >/dev/null; "node_$1" "$2" ;;
  promote) promote ;;
  queues) cluster_queues ;;
  *) echo "usage: $0 up|down|status|addresses|queues|partition NODE|heal [NODE]|stop NODE|start NODE|promote" >&2; exit 2 ;;
esac
