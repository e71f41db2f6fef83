#!/usr/bin/env bash
# Starts, stops and reports the three real servers the project runs against:
# RabbitMQ (5672), PostgreSQL (5432) and SecantusDB, a MongoDB-protocol server (27017).
# Everything listens on 127.0.0.1 only. Installs whatever is missing first, so a fresh
# Debian 12 machine needs nothing else. Safe to run any number of times in a row.
#
#   scripts/services.sh up       install if needed, make the local TLS certificates, start, wait until
#                                each answers, create the roles, databases and broker users of
#                                docs/security.md; turns TLS on (a broker started without its TLS
#                                listener is restarted once)
#   scripts/services.sh certificates   only make the local certificates (docs/security.md, "TLS")
#   scripts/services.sh reset-stores   drop the services' databases and make them again, empty, each
#                                owned by its service's role (scripts/run.sh's fresh demo)
#   scripts/services.sh down     stop all three
#   scripts/services.sh status   say which ones answer (exit 1 if any does not)
#   scripts/services.sh restart rabbitmq|postgresql|mongodb   drop every client, as a crash would
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$root/.services"            # SecantusDB data and logs; ignored by git
venv="$root/.venv"                 # project-local Python for SecantusDB, the schema tests and docs/examples

PG_ROLE=${COMMERCE_PG_ROLE:-commerce}
PG_PASSWORD=${COMMERCE_PG_PASSWORD:-commerce}
PG_DATABASES=(commerce_test)
# A role per service, owning its database and nothing else (docs/security.md, "Database roles"),
# as "role:database"; and the operators' read-only role with the databases it may read. Locally
# every role has the password COMMERCE_PG_SERVICE_PASSWORD (default the administrator's).
PG_SERVICES=(${COMMERCE_PG_SERVICES:-order_worker:orders stock_worker:inventory payment_worker:payments payment_gateway:gateway})
PG_READER=${COMMERCE_PG_READER:-commerce_reader}
PG_READER_DATABASES=(${COMMERCE_PG_READER_DATABASES:-orders inventory payments})
PG_SERVICE_PASSWORD=${COMMERCE_PG_SERVICE_PASSWORD:-$PG_PASSWORD}
AMQP_USER=${COMMERCE_AMQP_USER:-commerce}
AMQP_PASSWORD=${COMMERCE_AMQP_PASSWORD:-commerce}
# One broker user per party (docs/security.md), with the permissions of FleetCatalog's table as
# config/broker-identities.tsv lists them; locally they share one password.
AMQP_IDENTITY_PASSWORD=${COMMERCE_AMQP_IDENTITY_PASSWORD:-$AMQP_PASSWORD}
AMQP_IDENTITIES="$root/config/broker-identities.tsv"
MONGO_PORT=${COMMERCE_MONGO_PORT:-27017}
# The largest message the broker accepts, in bytes (docs/security.md, "Size limits"); RabbitMQ's
# own default is 128 MiB.
AMQP_MAX_MESSAGE_SIZE=${COMMERCE_AMQP_MAX_MESSAGE_SIZE:-1048576}

# A throwaway certificate authority and the servers' certificate (docs/security.md, "TLS"), kept
# outside the checkout: the servers are the machine's, shared by every checkout on it.
TLS_DIR=${COMMERCE_TLS_DIR:-/etc/commerce/tls}
AMQPS_PORT=5671

APT_PACKAGES=(rabbitmq-server postgresql librabbitmq-dev libpq-dev libmongoc-dev libbson-dev pkg-config python3-venv netcat-openbsd openssl ca-certificates)

log() { printf '[services] %s\n' "$*" >&2; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then log "$what did not answer within ${seconds}s"; return 1; fi
    sleep 0.5
  done
}

install_missing() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c 'import secantus, jsonschema, pymongo, pika' 2>/dev/null; then
    log "installing SecantusDB, jsonschema, pymongo and pika into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check secantusdb jsonschema pymongo pika
  fi
}

# --- TLS certificates ---------------------------------------------------------
# issue_certificate NAME SUBJECT EXTENSIONS: NAME.pem and NAME.key in $TLS_DIR, signed by the local
# CA; kept while it still verifies against the CA.
issue_certificate() {
  (
    cd "$TLS_DIR"
    if [ -s "$1.pem" ] && [ -s "$1.key" ] && openssl verify -CAfile ca.pem "$1.pem" >/dev/null 2>&1; then return; fi
    log "issuing $TLS_DIR/$1.pem"
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
      -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
  )
}

# ca.pem is what clients trust (amqp.tls.caFile, sslrootcert); server.pem names localhost and
# 127.0.0.1 (as a DNS entry too: rabbitmq-c compares DNS names only); each server reads its own
# copy of the key. client.pem/client.key are for trying mutual TLS. Made once; a certificate that
# no longer verifies against the CA (a CA made again) is made again.
certificates() {
  mkdir -p "$TLS_DIR"
  chmod 755 "$TLS_DIR"
  (
    cd "$TLS_DIR"
    if [ ! -s ca.pem ] || [ ! -s ca.key ]; then
      log "making a local certificate authority in $TLS_DIR"
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=commerce local CA" \
        -keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
      rm -f server.pem client.pem
    fi
    chmod 600 ca.key
    chmod 644 ca.pem
    issue_certificate server "/CN=localhost" "subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1
extendedKeyUsage=serverAuth"
    issue_certificate client "/CN=commerce-client" "extendedKeyUsage=clientAuth"
    chmod 644 server.pem client.pem client.key
    chmod 600 server.key
    # Each server reads the key as its own user, and both insist that nobody else can.
    if id rabbitmq >/dev/null 2>&1; then install -o rabbitmq -g rabbitmq -m 600 server.key rabbitmq.key; fi
    if id postgres >/dev/null 2>&1; then install -o postgres -g postgres -m 600 server.key postgresql.key; fi
  )
}

# --- RabbitMQ ---------------------------------------------------------------
rabbit_answers() { rabbitmqctl -q status >/dev/null 2>&1 && nc -z 127.0.0.1 5672; }
rabbit_stopped() { ! nc -z 127.0.0.1 5672; }
# The broker's configuration: loopback only, plain AMQP on 5672 and AMQP over TLS on 5671 beside
# it, a client certificate checked when one is presented (mutual TLS is optional).
rabbit_configure() {
  mkdir -p /etc/rabbitmq
  # Loopback only: the AMQP listeners and the Erlang distribution port.
  cat > /etc/rabbitmq/rabbitmq-env.conf <<'CONF'
NODE_IP_ADDRESS=127.0.0.1
CONF
  cat > /etc/rabbitmq/rabbitmq.conf <<CONF
listeners.tcp.default = 127.0.0.1:5672
listeners.ssl.default = 127.0.0.1:$AMQPS_PORT
ssl_options.cacertfile = $TLS_DIR/ca.pem
ssl_options.certfile = $TLS_DIR/server.pem
ssl_options.keyfile = $TLS_DIR/rabbitmq.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
loopback_users = none
max_message_size = $AMQP_MAX_MESSAGE_SIZE
CONF
}
rabbit_up() {
  rabbit_configure
  export ERL_EPMD_ADDRESS=127.0.0.1
  if rabbit_answers && ! nc -z 127.0.0.1 "$AMQPS_PORT"; then
    # A broker started before TLS was configured reads the new file only when its node starts.
    log "restarting RabbitMQ to open its TLS listener on $AMQPS_PORT"
    /etc/init.d/rabbitmq-server stop >/dev/null 2>&1 || true
    wait_for 60 "RabbitMQ to stop" rabbit_stopped
  fi
  if ! rabbit_answers; then
    log "starting RabbitMQ"
    /etc/init.d/rabbitmq-server start >/dev/null 2>&1 || true
    wait_for 90 "RabbitMQ" rabbit_answers || { tail -20 /var/log/rabbitmq/*.log >&2 || true; return 1; }
  fi
  wait_for 30 "RabbitMQ's TLS listener" nc -z 127.0.0.1 "$AMQPS_PORT" \
    || { tail -20 /var/log/rabbitmq/*.log >&2 || true; return 1; }
  # The list is read into a variable, not piped into `grep -q`: grep stopping at the first match
  # would kill rabbitmqctl with SIGPIPE, and pipefail would make an existing user look missing.
  local users
  users=$(rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}')
  if ! grep -qx "$AMQP_USER" <<<"$users"; then
    rabbitmqctl -q add_user "$AMQP_USER" "$AMQP_PASSWORD" >/dev/null
  fi
  rabbitmqctl -q set_permissions -p / "$AMQP_USER" '.*' '.*' '.*' >/dev/null
  rabbitmqctl -q set_user_tags "$AMQP_USER" monitoring >/dev/null
  # Also applied to the running node (new channels take it), so a broker started before the
  # setting existed needs no restart.
  rabbitmqctl -q eval "application:set_env(rabbit, max_message_size, $AMQP_MAX_MESSAGE_SIZE)." >/dev/null
  rabbit_identities
}

# The parties' users: created once (an existing user keeps its password), permissions set every
# time, so a changed table takes effect on the next `up`. Adding users and permissions does not
# disturb the connections of a broker others are using.
rabbit_identities() {
  local users user configure write read topic_write topic_read exchange
  users=$(rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}')
  # The table comes in on fd 3: rabbitmqctl reads standard input and would swallow it.
  while IFS=$'\t' read -r -u 3 user exchange configure write read topic_write topic_read; do
    case "$user" in ''|'#'*) continue ;; esac
    if ! grep -qx "$user" <<<"$users"; then
      rabbitmqctl -q add_user "$user" "$AMQP_IDENTITY_PASSWORD" >/dev/null
    fi
    rabbitmqctl -q set_permissions -p / "$user" "$configure" "$write" "$read" >/dev/null
    rabbitmqctl -q set_topic_permissions -p / "$user" "$exchange" "$topic_write" "$topic_read" >/dev/null
  done 3<"$AMQP_IDENTITIES"
}

# --- PostgreSQL -------------------------------------------------------------
pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432; }
# A TLS connection that checks the server's certificate and name, as the workers can.
pg_tls_answers() {
  PGPASSWORD=$PG_PASSWORD psql -X -tA "host=127.0.0.1 port=5432 dbname=postgres user=$PG_ROLE sslmode=verify-full sslrootcert=$TLS_DIR/ca.pem connect_timeout=3" -c 'select ssl from pg_stat_ssl where pid = pg_backend_pid()' | grep -qx t
}
psql_script() { su postgres -c "PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d $1" >/dev/null; } # psql_script DATABASE <SQL
psql_admin() { su postgres -c "psql -X -q -v ON_ERROR_STOP=1 $*"; }
pg_up() {
  if ! pg_answers; then
    log "starting PostgreSQL"
    local version
    version=$(pg_lsclusters -h | awk 'NR==1{print $1}')
    if [ -z "$version" ]; then
      version=$(ls /usr/lib/postgresql | sort -n | tail -1)
      pg_createcluster "$version" main >/dev/null
    fi
    # More connections than the default 100: several worker copies and tests each hold some.
    pg_ctlcluster "$version" main start -- -o "-c listen_addresses=127.0.0.1 -c max_connections=300" 
    wait_for 60 "PostgreSQL" pg_answers
  fi
  # The same settings written to the cluster (postgresql.auto.conf), so that a restart
  # (`services.sh restart postgresql`, the disruptive tests, the chaos run) keeps them: a restart
  # does not repeat the start's -o options, and a server back at 100 connections starves a
  # parallel test run. A server that answers with fewer is restarted once to take them.
  psql_admin "-c \"alter system set listen_addresses = '127.0.0.1'\" -c \"alter system set max_connections = 300\""
  if [ "$(su postgres -c "psql -X -tAc 'show max_connections'")" -lt 300 ]; then
    log "restarting PostgreSQL to take max_connections = 300"
    for c in $(pg_lsclusters -h | awk '{print $1"/"$2}'); do pg_ctlcluster "${c%/*}" "${c#*/}" restart -m fast; done
    wait_for 60 "PostgreSQL" pg_answers
  fi
  if ! su postgres -c "psql -X -tAc \"select 1 from pg_roles where rolname = '$PG_ROLE'\"" | grep -q 1; then
    psql_admin "-c \"create role $PG_ROLE login createdb password '$PG_PASSWORD'\""
  fi
  for db in "${PG_DATABASES[@]}"; do
    if ! su postgres -c "psql -X -tAc \"select 1 from pg_database where datname = '$db'\"" | grep -q 1; then
      psql_admin "-c \"create database $db owner $PG_ROLE\""
    fi
  done
  pg_service_roles
  # TLS beside plain connections (a client chooses with sslmode; docs/security.md, "TLS"). `ssl`
  # and the files are reloadable settings: no restart, no client dropped.
  psql_admin "-c \"alter system set ssl_cert_file = '$TLS_DIR/server.pem'\"" \
    "-c \"alter system set ssl_key_file = '$TLS_DIR/postgresql.key'\"" \
    "-c \"alter system set ssl_ca_file = '$TLS_DIR/ca.pem'\"" "-c \"alter system set ssl = on\"" \
    "-c 'select pg_reload_conf()'" >/dev/null
  # Checked as the administrator role, which exists by now.
  wait_for 20 "PostgreSQL over TLS" pg_tls_answers
}

# Each service's role owns its database (so its migrations run as it), and only its owner and
# the roles granted CONNECT may connect: PostgreSQL lets every role connect to every database
# unless CONNECT is revoked from PUBLIC. A database that `commerce` owned (an older setup) is
# handed over with its tables. Created roles keep their password; grants are set every time.
pg_service_roles() {
  local entry role db
  for entry in "${PG_SERVICES[@]}" "$PG_READER:"; do
    role=${entry%%:*}
    psql_script postgres <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = '$role') then
    create role $role login password '$PG_SERVICE_PASSWORD';
  end if;
end \$\$;
SQL
  done
  # Read-only everywhere it may connect: SELECT on every table, present and future.
  psql_script postgres <<<"grant pg_read_all_data to $PG_READER"
  # And the statistics views' every column (pg_stat_replication's standbys and their lag, for
  # `commerce status`), which is pg_read_all_stats alone: not pg_monitor's settings or scans.
  psql_script postgres <<<"grant pg_read_all_stats to $PG_READER"
  for entry in "${PG_SERVICES[@]}"; do
    role=${entry%%:*} db=${entry#*:}
    if ! su postgres -c "psql -X -tAc \"select 1 from pg_database where datname = '$db'\"" | grep -q 1; then
      psql_admin "-c \"create database $db owner $role\""
    fi
    psql_script postgres <<SQL
alter database $db owner to $role;
revoke all on database $db from public;
SQL
    psql_script "$db" <<SQL
do \$\$ declare object record; begin
  for object in select c.oid::regclass as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm') and c.relowner <> '$role'::regrole loop
    execute format('alter table %s owner to $role', object.name);
  end loop;
  for object in select c.oid::regclass as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'S' and c.relowner <> '$role'::regrole loop
    execute format('alter sequence %s owner to $role', object.name);
  end loop;
end \$\$;
SQL
  done
  for db in "${PG_READER_DATABASES[@]}"; do
    psql_script postgres <<<"grant connect on database $db to $PG_READER"
  done
}

reset_stores() {
  local entry
  for entry in "${PG_SERVICES[@]}"; do
    psql_admin "-c \"drop database if exists ${entry#*:} with (force)\""
  done
  pg_service_roles
}

# --- SecantusDB (MongoDB wire protocol) --------------------------------------
mongo_answers() {
  "$venv/bin/python" - "$MONGO_PORT" <<'PY'
import sys, pymongo
client = pymongo.MongoClient(f"mongodb://127.0.0.1:{sys.argv[1]}/?retryWrites=false", serverSelectionTimeoutMS=1000)
client.admin.command("ping")
PY
}
mongo_up() {
  if ! mongo_answers >/dev/null 2>&1; then
    log "starting SecantusDB on 127.0.0.1:$MONGO_PORT"
    mkdir -p "$state/mongo"
    nohup "$venv/bin/python" -m secantus --host 127.0.0.1 --port "$MONGO_PORT" \
      --storage-path "$state/mongo" --sync-on-commit >"$state/secantus.log" 2>&1 &
    echo $! >"$state/secantus.pid"
    wait_for 60 "SecantusDB" mongo_answers || { tail -20 "$state/secantus.log" >&2; return 1; }
  fi
}

status() {
  local rc=0
  if rabbit_answers; then echo "rabbitmq   up   amqp://127.0.0.1:5672"; else echo "rabbitmq   down"; rc=1; fi
  if nc -z 127.0.0.1 "$AMQPS_PORT"; then echo "rabbitmq   tls  amqps://127.0.0.1:$AMQPS_PORT (CA $TLS_DIR/ca.pem)"; fi
  if pg_answers; then echo "postgresql up   postgres://127.0.0.1:5432"; else echo "postgresql down"; rc=1; fi
  if [ -x "$venv/bin/python" ] && mongo_answers >/dev/null 2>&1; then
    echo "mongodb    up   mongodb://127.0.0.1:$MONGO_PORT (SecantusDB)"
  else echo "mongodb    down"; rc=1; fi
  return $rc
}

secantus_gone() { ! pgrep -f "secantus --host 127.0.0.1 --port $MONGO_PORT" >/dev/null; }

down() {
  log "stopping"
  # SecantusDB shuts down cleanly on SIGINT (its data files closed, in a few seconds) and not
  # promptly on SIGTERM: interrupted, then waited for, so that an `up` right after finds the port
  # free; after 30 s it is killed.
  if [ -f "$state/secantus.pid" ]; then kill -INT "$(cat "$state/secantus.pid")" 2>/dev/null || true; rm -f "$state/secantus.pid"; fi
  pkill -INT -f "secantus --host 127.0.0.1 --port $MONGO_PORT" 2>/dev/null || true
  if ! wait_for 30 "SecantusDB (stopping)" secantus_gone; then
    pkill -KILL -f "secantus --host 127.0.0.1 --port $MONGO_PORT" 2>/dev/null || true
  fi
  /etc/init.d/rabbitmq-server stop >/dev/null 2>&1 || true
  for c in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do pg_ctlcluster "${c%/*}" "${c#*/}" stop 2>/dev/null || true; done
}

# restart SERVICE: what a crash and a restart look like to clients (every connection dropped),
# for `commerce-lab chaos` and for trying things by hand. RabbitMQ stops and starts its application
# (the node's queues and their messages survive, as they would a node restart); PostgreSQL
# restarts in fast mode (open transactions roll back); SecantusDB is killed and started again.
restart() {
  case "${1:-}" in
    rabbitmq)
      log "restarting RabbitMQ"
      rabbitmqctl -q stop_app && rabbitmqctl -q start_app && rabbitmqctl -q await_startup ;;
    postgresql)
      log "restarting PostgreSQL"
      for c in $(pg_lsclusters -h | awk '{print $1"/"$2}'); do pg_ctlcluster "${c%/*}" "${c#*/}" restart -m fast; done
      wait_for 60 "PostgreSQL" pg_answers ;;
    mongodb)
      # The server that answers may belong to another checkout (another storage path): restart
      # that very server, with its own command line, so that its data stays where it was.
      log "restarting SecantusDB"
      local running pid
      running=$(pgrep -af "secantus --host 127.0.0.1 --port $MONGO_PORT" | head -1 || true)
      if [ -z "$running" ]; then mongo_up; return; fi
      pid=${running%% *}
      local command=(${running#* })
      local log_file="$state/secantus.log"
      mkdir -p "$state"
      kill -9 "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
      nohup "${command[@]}" >>"$log_file" 2>&1 &
      echo $! >"$state/secantus.pid"
      wait_for 60 "SecantusDB" mongo_answers || { tail -20 "$log_file" >&2; return 1; } ;;
    *) echo "usage: $0 restart rabbitmq|postgresql|mongodb" >&2; exit 2 ;;
  esac
}

# freeze SERVICE SECONDS: what a frozen VM or a silent partition looks like to clients. Every
# process of the server is stopped (SIGSTOP) for SECONDS, then continued (SIGCONT): connections
# stay open and the kernel still acknowledges TCP, but nothing answers, so only a client-side
# deadline notices. SIGCONT is sent even when the script is interrupted.
freeze() {
  local service=${1:-} seconds=${2:-}
  if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1 || seconds > 600)); then
    echo "usage: $0 freeze rabbitmq|postgresql|mongodb SECONDS (1 to 600)" >&2; exit 2
  fi
  local pids
  case "$service" in
    rabbitmq) pids=$(pgrep -x beam.smp || true) ;;
    postgresql) pids=$(pgrep -x postgres || true) ;;
    mongodb) pids=$(pgrep -f "secantus --host 127.0.0.1 --port $MONGO_PORT" || true) ;;
    *) echo "usage: $0 freeze rabbitmq|postgresql|mongodb SECONDS (1 to 600)" >&2; exit 2 ;;
  esac
  if [ -z "$pids" ]; then log "no $service process to freeze"; return 1; fi
  trap 'kill -CONT $pids 2>/dev/null || true' EXIT INT TERM
  log "freezing $service for ${seconds}s (pids $(echo $pids | tr '\n' ' '))"
  kill -STOP $pids
  sleep "$seconds"
  kill -CONT $pids 2>/dev/null || true
  trap - EXIT INT TERM
  log "$service continued"
}

# Sourced (scripts/cluster.sh uses these functions), it defines them and does nothing else.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
case "${1:-}" in
  up) install_missing; certificates; pg_up; rabbit_up; mongo_up; status ;;
  certificates) certificates ;;
  reset-stores) reset_stores ;;
  down) down ;;
  status) status ;;
  restart) restart "${2:-}" ;;
  freeze) freeze "${2:-}" "${3:-}" ;;
  *) echo "usage: $0 up|down|status|certificates|reset-stores|restart SERVICE|freeze SERVICE SECONDS" >&2; exit 2 ;;
esac
fi
