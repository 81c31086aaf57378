#!/usr/bin/env bash
# services.sh - make sure MariaDB and PostgreSQL answer on 127.0.0.1 for the
# test tiers (root with an empty password on MariaDB; user postgres with trust
# auth on PostgreSQL) and Redis on 127.0.0.1:6379, starting the Debian servers
# if they are not running.
# Idempotent; prints what it did.
set -euo pipefail
log() { printf 'services: %s\n' "$*"; }

wait_for() {  # wait_for NAME CMD...
  local name=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  log "$name did not answer within 30s"; return 1
}

if mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
  log "MariaDB answers on 127.0.0.1:3306"
else
  if ! mariadb-admin ping >/dev/null 2>&1; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB mariadb-admin ping
    log "started MariaDB"
  fi
  # A fresh Debian install lets root in through the unix socket only.
  mariadb -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;" || true
  mariadb -e "CREATE DATABASE IF NOT EXISTS test;"
  wait_for "MariaDB over TCP" mariadb -h 127.0.0.1 -u root -e 'SELECT 1'
fi
# MariaDB's default, which dbcopy's bulk path uses: a test run killed while it had
# local_infile off (to test the fallback) must not leave the next run without it.
mariadb -h 127.0.0.1 -u root -e 'SET GLOBAL local_infile = 1'

if psql -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
  log "PostgreSQL answers on 127.0.0.1:5432"
else
  version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | grep -q online; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    log "started PostgreSQL $version"
  fi
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # Test-only runner: trust loopback connections, as the test tier expects.
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    log "trusting loopback connections in $hba"
  fi
  wait_for "PostgreSQL over TCP" psql -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1'
fi

if redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  log "Redis answers on 127.0.0.1:6379"
else
  command -v redis-server >/dev/null 2>&1 || {
    apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends redis-server >/dev/null; }
  }
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis-cli -h 127.0.0.1 ping
  log "started Redis"
fi
