#!/usr/bin/env bash
# The main job on an embedded default: a throwaway PostgreSQL 15 (run as `postgres` on a free
# loopback port), a local inventory of one server (db1, also the CA host) and two clients
# (app1, app2), the pg_mtls playbook run twice (the second run changes nothing), then a real
# mutual-TLS connection per client and the rejections mTLS promises.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
export PATH="$root/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$root/.work/collections"
export ANSIBLE_HOST_KEY_CHECKING=false ANSIBLE_DEPRECATION_WARNINGS=false ANSIBLE_LOCALHOST_WARNING=false

base=$(mktemp -d /tmp/certkeeper-demo.XXXXXX)
chmod 755 "$base"
cluster=$(cd "$root" && python -m tests.support.throwaway_pg start "$base/pg" app1 app2)
trap 'cd "$root" && python -m tests.support.throwaway_pg stop "$base/pg"' EXIT
port=$(python -c 'import json,sys; print(json.loads(sys.argv[1])["port"])' "$cluster")
reload=$(python -c 'import json,sys; print(json.loads(sys.argv[1])["reload_command"])' "$cluster")
install -d -m 755 "$base/ssl"

cat > "$base/inventory.yml" <<INV
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: $root/.venv/bin/python
    pg_mtls_ca_dir: $base/ca
    pg_mtls_hba_rules: [{address: 127.0.0.1/32}]
  children:
    pg_servers:
      hosts:
        db1:
          pg_mtls_conf_dir: $base/pg/data
          pg_mtls_ssl_dir: $base/ssl
          pg_mtls_server_cn: localhost
          pg_mtls_server_sans: [IP:127.0.0.1]
          pg_mtls_reload_command: $reload
          pg_mtls_track_store: $base/store-db1
    pg_clients:
      hosts:
        app1: {pg_mtls_db_user: app1, pg_mtls_client_dir: $base/app1, pg_mtls_track_store: $base/store-app1}
        app2: {pg_mtls_db_user: app2, pg_mtls_client_dir: $base/app2, pg_mtls_track_store: $base/store-app2}
INV

echo "== first run: CA, server and client material, PostgreSQL settings, reload"
ansible-playbook -i "$base/inventory.yml" certkeeper.pki.pg_mtls
echo "== second run: nothing to do"
ansible-playbook -i "$base/inventory.yml" certkeeper.pki.pg_mtls | tail -n 5

conn() { # conn CLIENT_DIR USER: a libpq connection string with verify-full and the client's files
  echo "host=localhost port=$port dbname=postgres user=$2 sslmode=verify-full sslrootcert=$1/root.crt sslcert=$1/client.crt sslkey=$1/client.key"
}
echo "== files on app1"; ls -l "$base/app1"
echo "== mutual TLS as each client (psql, sslmode=verify-full)"
for c in app1 app2; do
  psql "$(conn "$base/$c" "$c")" -Atc "select 'connected as ' || current_user || ' over ' || version || ', client cert ' || client_dn from pg_stat_ssl where pid = pg_backend_pid()"
done
echo "== what is refused"
psql "$(conn "$base/app1" app2)" -c 'select 1' 2>&1 | sed 's/^/app1 certificate used as app2: /' || true
psql "host=localhost port=$port dbname=postgres user=app1 sslmode=verify-full sslrootcert=$base/app1/root.crt sslcert=/nonexistent sslkey=/nonexistent" -c 'select 1' 2>&1 | sed 's/^/no client certificate: /' || true
echo "Demo files are in $base (the cluster is stopped on exit)."
