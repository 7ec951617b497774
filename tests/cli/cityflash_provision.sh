#!/bin/bash
# cityflash_provision.sh CITYGATE CITYNODE CITYNODE_BOOT CITYFLASH DATA_DIR -- a
# fresh node provisioned on site, end to end, under tools/services (InfluxDB
# for the gateway's store). The test runs its own Mosquitto with a
# password_file and an acl_file (no anonymous clients) and a real citygate
# whose broker user may only read the nodes' topics.
#
#   1. A fresh node (citynode 1.0.0 in its primary slot, no provisioning
#      file) is provisioned over its pty: the registry, the password file
#      and the ACL get its entries, the gateway and the broker reload.
#   2. Version 2.0.0 is tested: it boots on trial, its frames are accepted by
#      the gateway, and it confirms itself once the broker confirmed them.
#   3. Another node's broker credentials cannot publish on this node's topic
#      (MQTT 5 reason "not authorized"), though they can on their own; a
#      frame for this node signed with the other node's key, sent with this
#      node's credentials, is refused by the gateway (bad_signature).
#   4. Re-provisioning rotates: the old broker password stops working and the
#      registry holds the node's new key.
#   5. Version 3.0.0 tested while the broker is down never confirms and is
#      reverted at the next start.
set -u
gw=$1 citynode=$2 boot=$3 cf=$4 key=$5/mcuboot/golden.key
. "$(dirname "$0")/lib.sh"
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_for SECONDS CMD...: polls CMD until it succeeds; 1 when time ran out.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
mq_port=$(free_port)
http_port=$(free_port)
site=bridge-7

# ---- broker: passwords and ACL, nobody anonymous ----
mosquitto_passwd -c -b passwd citygate gw-secret || exit 70
cat >acl <<EOF
user citygate
topic read city/v1/+/+/data
topic read city/v1/+/+/status
topic write city/v1/alerts/#
topic write city/v1/quarantine/#
EOF
cat >mq.conf <<EOF
listener $mq_port 127.0.0.1
allow_anonymous false
password_file $tmp/passwd
acl_file $tmp/acl
user $(id -un)
persistence false
log_dest file $tmp/mq.log
EOF
start_broker() {
    setsid mosquitto -c mq.conf >>mq.log 2>&1 &
    mq_pid=$!
    pids+=("$mq_pid")
    wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mq_port" 2>/dev/null || die "mosquitto did not start"
}
start_broker

# ---- gateway: an empty registry, its own broker user ----
: >devices.ini
cat >gw.ini <<EOF
[mqtt]
url = tcp://127.0.0.1:$mq_port
client_id = citygate-provision
username = citygate
password = gw-secret
[devices]
registry = $tmp/devices.ini
[journal]
dir = $tmp/journal
[store]
url = ${CITYGATE_INFLUX_URL:?run under tools/services}
database = provision
[http]
listen = 127.0.0.1:$http_port
EOF
setsid "$gw" -c gw.ini >gw.log 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
healthy() { curl -sf "http://127.0.0.1:$http_port/healthz" | grep -q '"mqtt_connected":true'; }
wait_for 30 healthy || die "citygate did not connect to the broker"
metric() { curl -sf "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# metric_at_least NAME N: the gateway's counter NAME has reached N.
metric_at_least() { [ "$(metric "$1" | cut -d. -f1)" -ge "$2" ] 2>/dev/null; }

# ---- the node: citynode images, a fresh boot folder ----
for v in 1 2 3; do
    "$cf" image sign --key "$key" --version $v.0.0 --security-counter 1 "$citynode" v$v.img \
        >/dev/null || die "sign v$v"
done
b=("$boot" --key "$key.pub")
"${b[@]}" --dir node init v1.img >/dev/null || die "init"
cat >sensors.ini <<EOF
[sensor loop-1]
driver = sim-traffic
lanes = 2
EOF
# serve DIR: the management port alone on DIR/tty, until killed.
serve() {
    rm -f "$1/tty"
    setsid "${b[@]}" --dir "$1" --pty "$1/tty" serve 2>"$1.serve.log" &
    serve_pid=$!
    pids+=("$serve_pid")
    wait_for 20 test -e "$1/tty" || die "the management port of $1 did not come up"
}
stop() {
    kill -TERM -- -"$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
provision() { # provision DIR NODE
    "$cf" --conn "serial:$1/tty" provision --site $site --node "$2" \
        --broker "tcp://127.0.0.1:$mq_port" --sensors sensors.ini --registry devices.ini \
        --gateway-pid "$gw_pid" --passwd passwd --acl acl --broker-pid "$mq_pid"
}
ini() { sed -n "s/^$2 = //p" "$1/node.ini"; }

# 1. Provision over the pty.
serve node
reloads=$(grep -c '"reloaded"\|reloaded:' gw.log)
out=$(provision node n1) || die "provision: $out"
echo "$out" | grep -q "node n1 provisioned for site $site" || fail "provision said: $out"
stop "$serve_pid"
[ "$(ini node id)" = n1 ] && [ "$(ini node site)" = $site ] || fail "node.ini: $(cat node/node.ini)"
grep -q '^\[sensor loop-1\]' node/node.ini || fail "the node's sensors: $(cat node/node.ini)"
[ "$(stat -c %a node/node.ini)" = 600 ] || fail "node.ini is readable by others"
k1=$(ini node key)
grep -q "^key = $k1\$" devices.ini || fail "registry has not the node's key: $(cat devices.ini)"
grep -q '^sensors = loop-1$' devices.ini || fail "registry has not the node's sensors"
grep -q '^n1:\$7\$101\$' passwd || fail "password file: $(cat passwd)"
grep -q "^topic write city/v1/$site/n1/data\$" acl || fail "acl: $(cat acl)"
wait_for 20 bash -c "[ \$(grep -c '\"reloaded\"\|reloaded:' gw.log) -gt $reloads ]" ||
    fail "the gateway did not reload: $(tail -3 gw.log)"

# 2. Version 2.0.0 on trial: accepted by the gateway, confirmed by itself.
"${b[@]}" --dir node install v2.img >/dev/null && "${b[@]}" --dir node test >/dev/null ||
    die "install and test v2"
setsid "${b[@]}" --dir node --trial 60s run -- -c "$tmp/node/node.ini" >run.log 2>&1 &
run_pid=$!
pids+=("$run_pid")
wait_for 60 metric_at_least citygate_frames_accepted_total 1 ||
    fail "the gateway accepted no frame of n1: $(metric citygate_frames_accepted_total)"
confirmed() { "${b[@]}" --dir node --json status | grep -q '"slot":0,"version":"2.0.0+0","bootable":true,"active":true,"confirmed":true'; }
wait_for 60 confirmed || fail "v2 did not confirm itself: $("${b[@]}" --dir node status)"
grep -q 'image confirmed: [0-9]* live frames confirmed by the broker' run.log ||
    fail "no confirmation in the node's log"
stop "$run_pid"

# 3. Another node's credentials: refused by the broker's ACL and by the gateway's HMAC.
"${b[@]}" --dir node2 init v1.img >/dev/null || die "init node2"
serve node2
provision node2 n2 >/dev/null || die "provision n2"
stop "$serve_pid"
pw2=$(ini node2 password)
out=$(mosquitto_pub -V 5 -q 1 -p "$mq_port" -i n2 -u n2 -P "$pw2" -t "city/v1/$site/n2/data" -m own 2>&1)
[ $? -eq 0 ] && [ -z "$out" ] || fail "n2 cannot publish on its own topic: $out"
out=$(mosquitto_pub -V 5 -q 1 -p "$mq_port" -i n2 -u n2 -P "$pw2" -t "city/v1/$site/n1/data" -m forged 2>&1)
echo "$out" | grep -qi 'not authori' || fail "n2 published on n1's topic: '$out'"
rejected() { metric 'citygate_frames_rejected_total{reason="bad_signature"}'; }
before=$(rejected)
mkdir forger
sed "s/^key = .*/key = $(ini node2 key)/; s|^ring_path = .*||" node/node.ini >forger/node.ini
(cd forger && exec setsid "$citynode" -c node.ini >../forger.log 2>&1) &
forger=$!
pids+=("$forger")
wait_for 60 metric_at_least 'citygate_frames_rejected_total{reason="bad_signature"}' $((${before%.*} + 1)) ||
    fail "the gateway took n1's frames signed with n2's key"
stop "$forger"

# 4. Re-provisioning rotates the key and the broker password.
old_pw=$(ini node password)
serve node
provision node n1 >/dev/null || die "re-provision n1"
stop "$serve_pid"
k2=$(ini node key)
[ "$k2" != "$k1" ] && grep -q "^key = $k2\$" devices.ini && ! grep -q "$k1" devices.ini ||
    fail "the registry did not rotate n1's key"
[ "$(grep -c '^n1:' passwd)" = 1 ] && [ "$(grep -c '^user n1$' acl)" = 1 ] || fail "n1 entered twice"
wait_for 20 bash -c "! mosquitto_pub -q 1 -p $mq_port -i n1 -u n1 -P $old_pw -t city/v1/$site/n1/data -m old 2>/dev/null" ||
    fail "n1's old password still works"

# 5. Version 3.0.0 tested while the broker is down: never confirmed, reverted.
stop "$mq_pid"
"${b[@]}" --dir node install v3.img >/dev/null && "${b[@]}" --dir node test >/dev/null ||
    die "install and test v3"
"${b[@]}" --dir node --trial 5s run -- -c "$tmp/node/node.ini" >run3.log 2>&1
grep -q 'the next start reverts' run3.log || fail "v3's trial did not end: $(cat run3.log)"
setsid "${b[@]}" --dir node run -- -c "$tmp/node/node.ini" >run4.log 2>&1 &
run_pid=$!
pids+=("$run_pid")
wait_for 30 grep -q 'booting 2.0.0' run4.log || fail "v2 not booted after v3: $(cat run4.log)"
grep -q 'REVERTED 3.0.0' run4.log || fail "no REVERTED event: $(cat run4.log)"
stop "$run_pid"

finish
echo "cityflash provision: all checks passed"
