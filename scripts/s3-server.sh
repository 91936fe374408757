#!/usr/bin/env bash
# The S3 test server: a throwaway single-node Ceph cluster (1 mon, 1 memstore OSD, no mgr) with a
# RADOS Gateway bound to 127.0.0.1. Debian's ceph 16.2 (pacific); run as root (it may apt-get).
#
#   bash scripts/s3-server.sh start              install if needed, wipe old state, start, write s3.env
#   bash scripts/s3-server.sh stop [--wipe]      stop our daemons by PID file (--wipe deletes the state)
#   bash scripts/s3-server.sh gateway-b start    a second gateway on the same cluster, for fault tests
#   bash scripts/s3-server.sh gateway-b stop     stop only that one (SIGTERM, then SIGKILL)
#   bash scripts/s3-server.sh gateway-b kill     stop only that one at once (SIGKILL)
#
#   BOARDS_S3_DIR     state dir (default ${TMPDIR:-/tmp}/boards-s3); wiped on start
#   BOARDS_S3_PORT    main gateway port (default 7480)
#   BOARDS_S3_PORT_B  second gateway port (default main port + 1)
#   BOARDS_S3_MON_PORT  the monitor's port (default 3300): change it beside another cluster on this host
#   BOARDS_S3_MEM     memstore capacity in bytes (default 8 GiB; RAM is used only as data is stored)
#
# The env file $BOARDS_S3_DIR/s3.env holds what the tests read:
#   set -a; . "$BOARDS_S3_DIR/s3.env"; set +a
set -euo pipefail

D=${BOARDS_S3_DIR:-${TMPDIR:-/tmp}/boards-s3}
PORT=${BOARDS_S3_PORT:-7480}
PORT_B=${BOARDS_S3_PORT_B:-$((PORT + 1))}
MON_PORT=${BOARDS_S3_MON_PORT:-3300}
MEM=${BOARDS_S3_MEM:-8589934592}
ACCESS_KEY=boardstestaccesskey0
SECRET_KEY=boardstestsecretkey00000000000000000000
export CEPH_CONF=$D/ceph.conf
CEPH="ceph --connect-timeout 30 --keyring $D/ceph.client.admin.keyring"

# Stop one daemon by its PID file: SIGTERM and up to 10 s, then SIGKILL. $2=now skips the wait.
stop_daemon() {
  local pidfile=$1 pid i
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ "${2:-}" != now ] && kill "$pid" 2>/dev/null; then
    for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  kill -9 "$pid" 2>/dev/null || true
  for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$pidfile"
}

stop_all() {
  local p
  kill_stray_gateway_b
  for p in "$D"/run/client.rgw.*.pid "$D"/run/osd.*.pid "$D"/run/mon.*.pid; do
    [ -f "$p" ] && stop_daemon "$p"
  done
  return 0
}

wait_for_gateway() {
  local port=$1 i
  for i in $(seq 1 120); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" && return 0
    sleep 0.5
  done
  echo "radosgw on 127.0.0.1:$port did not come up; see $D/log" >&2
  return 1
}

# Every gateway-b process of this cluster, with its PID file or without (a start racing a stop once
# left one running with none, answering through the next outage test and past the cluster's stop).
gateway_b_pids() {
  local p
  for p in $(pgrep -f 'radosgw -n client.rgw.b' || true); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "CEPH_CONF=$CEPH_CONF" && echo "$p"
  done
  return 0
}

kill_stray_gateway_b() {
  local p
  for p in $(gateway_b_pids); do kill -9 "$p" 2>/dev/null || true; done
  for p in $(seq 1 20); do [ -z "$(gateway_b_pids)" ] && return 0; sleep 0.1; done
  return 0
}

gateway_b() {
  [ -f "$CEPH_CONF" ] || { echo "no cluster in $D; run: $0 start" >&2; exit 1; }
  case "${1:-}" in
    start)
      stop_daemon "$D/run/client.rgw.b.pid" now
      kill_stray_gateway_b
      [ -f "$D/ceph.client.rgw.b.keyring" ] ||
        $CEPH auth get-or-create client.rgw.b mon 'allow rw' osd 'allow rwx' -o "$D/ceph.client.rgw.b.keyring"
      radosgw -n client.rgw.b
      wait_for_gateway "$PORT_B"
      echo "gateway b: http://127.0.0.1:$PORT_B (pid $(cat "$D/run/client.rgw.b.pid"))" ;;
    stop) stop_daemon "$D/run/client.rgw.b.pid"; kill_stray_gateway_b; echo "gateway b stopped" ;;
    kill) stop_daemon "$D/run/client.rgw.b.pid" now; kill_stray_gateway_b; echo "gateway b killed" ;;
    *) echo "usage: $0 gateway-b start|stop|kill" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  start) ;;
  stop) stop_all; [ "${2:-}" = "--wipe" ] && rm -rf "$D"; echo "stopped"; exit 0 ;;
  gateway-b) gateway_b "${2:-}"; exit 0 ;;
  *) echo "usage: $0 start | stop [--wipe] | gateway-b start|stop|kill" >&2; exit 2 ;;
esac

t0=$(date +%s)
# 1. install (idempotent; ~70 MB of .debs)
need=0
for c in radosgw radosgw-admin ceph-mon ceph-osd ceph ceph-authtool monmaptool curl uuidgen; do
  command -v "$c" >/dev/null || need=1
done
if [ $need = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl >/dev/null
fi

# 2. stop a previous instance of ours, wipe its state
stop_all
rm -rf "$D"
mkdir -p "$D"/{mon,osd,rgw,run,log,crash}

FSID=$(uuidgen)
# GC settings: deleted multipart tails would otherwise stay in the RAM-backed OSD for two hours.
cat > "$CEPH_CONF" <<EOF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $D/\$cluster.\$name.keyring
run dir = $D/run
pid file = $D/run/\$name.pid
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
crash dir = $D/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
osd crush chooseleaf type = 0
[mon]
mon data = $D/mon/\$name
mon cluster log file = $D/log/cluster.log
[osd]
osd data = $D/osd/\$name
keyring = $D/osd/\$name/keyring
osd objectstore = memstore
memstore device bytes = $MEM
osd memory target = 1073741824
osd op num shards = 1
osd op num threads per shard = 2
[client]
rgw data = $D/rgw
rgw dns name = localhost
rgw thread pool size = 64
rgw gc obj min wait = 10
rgw gc processor period = 15
rgw gc processor max time = 15
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
[client.rgw.b]
rgw frontends = beast endpoint=127.0.0.1:$PORT_B
EOF

# 3. keys + monitor
ceph-authtool --create-keyring "$D/ceph.mon.a.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$D/ceph.client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$D/ceph.mon.a.keyring" --import-keyring "$D/ceph.client.admin.keyring" >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$D/monmap" --keyring "$D/ceph.mon.a.keyring"
ceph-mon -i a
$CEPH mon stat >/dev/null

# 4. one memstore OSD
OSD_UUID=$(uuidgen)
OSD_SECRET=$(ceph-authtool --gen-print-key)
echo "{\"cephx_secret\": \"$OSD_SECRET\"}" > "$D/osd-secret.json"
OSD_ID=$($CEPH osd new "$OSD_UUID" -i "$D/osd-secret.json")
mkdir -p "$D/osd/osd.$OSD_ID"
ceph-authtool --create-keyring "$D/osd/osd.$OSD_ID/keyring" --name "osd.$OSD_ID" --add-key "$OSD_SECRET" >/dev/null
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" 2>>"$D/log/osd-mkfs.log"
ceph-osd -i "$OSD_ID" 2>>"$D/log/osd-start.log"
for i in $(seq 1 60); do
  $CEPH osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1' && break; sleep 1
done

# 5. the gateway (its pools made first, so the first CreateBucket/PutObject is not slow)
for pool in .rgw.root default.rgw.control default.rgw.meta default.rgw.log \
            default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
  $CEPH osd pool create "$pool" 8 8 >/dev/null 2>&1
  $CEPH osd pool application enable "$pool" rgw >/dev/null 2>&1
done
$CEPH auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' -o "$D/ceph.client.rgw.a.keyring"
radosgw -n client.rgw.a
wait_for_gateway "$PORT"

# 6. an S3 user with fixed keys
radosgw-admin --keyring "$D/ceph.client.admin.keyring" user create --uid=boards-test --display-name=boards-test \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null

cat > "$D/s3.env" <<EOF
BOARDS_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT
BOARDS_TEST_S3_ACCESS_KEY=$ACCESS_KEY
BOARDS_TEST_S3_SECRET_KEY=$SECRET_KEY
BOARDS_TEST_S3_REGION=us-east-1
BOARDS_TEST_S3_STATE_DIR=$D
EOF
cat "$D/s3.env"
echo "# ready in $(( $(date +%s) - t0 ))s; env file: $D/s3.env; stop: $0 stop [--wipe]" >&2
