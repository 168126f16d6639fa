# A throwaway PostgreSQL cluster (sourced by ./dev test and the benchmarks): Debian's server
# binaries, its own data directory and Unix socket in a temporary directory, no TCP, no systemd.
#
#   postgres_start [settings…]   sets PG_DIR, PG_PID and PG_URL (a database URL for user baas)
#   postgres_stop                stops it by its PID and removes the directory

postgres_start() {
  local bin owner=()
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  PG_DIR="$(mktemp -d /tmp/baas-pg.XXXXXX)"
  # initdb refuses to run as root: the cluster then belongs to Debian's postgres user.
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$PG_DIR"
    owner=(runuser -u postgres --)
  fi
  "${owner[@]}" "$bin/initdb" -D "$PG_DIR/data" -U baas --auth=trust -E UTF8 >"$PG_DIR/initdb.log"
  "${owner[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -o \
    "-k $PG_DIR -c listen_addresses= -c max_connections=400 $*" start >/dev/null
  PG_PID="$(head -1 "$PG_DIR/data/postmaster.pid")"
  PG_URL="postgres://baas@localhost/postgres?host=$PG_DIR"
}

postgres_stop() {
  if [ -n "${PG_PID:-}" ]; then
    kill -INT "$PG_PID" 2>/dev/null || true
    while kill -0 "$PG_PID" 2>/dev/null; do sleep 0.1; done
    rm -rf "$PG_DIR"
    PG_PID=
  fi
}
