#!/usr/bin/env bash
# citytap.sh CITYSIM CITYTAP -- citytap against a real Mosquitto (tools/services
# run --only mqtt): it reads the registry with the gateway's parser, so a
# registry the gateway takes (range overrides, a [site NAME] section) is taken;
# every frame citysim had acknowledged is received and verified; frames signed
# with another fleet key are rejected (exit 1); an invalid registry is refused
# with its line (exit 78).
set -u
citysim=$1 citytap=$2
. "$(dirname "$0")/lib.sh"
: "${CITYGATE_MQTT_URL:?run under tools/services run --only mqtt}"

key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
other=ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
"$citysim" --nodes 4 --sites 2 --fleet-key "$key" --registry reg.ini || die "citysim --registry"
# What the gateway's registry allows beyond what citysim writes.
sed -i 's/^\[device node-0001\]$/&\nrange.SPEED = 0..250/' reg.ini
sed -i 's|^\[site site-00\]$|&\nzone = Europe/Madrid|' reg.ini
grep -q '^range.SPEED' reg.ini || die "the range line was not added"
grep -q "^zone = Europe/Madrid$" reg.ini || die "the zone line was not added"

# tap TIMEOUT_S NAME: starts citytap for TIMEOUT_S seconds in the background (pid in
# tap_pid) and waits until it has subscribed.
tap() {
    rm -f ready
    setsid "$citytap" --registry reg.ini --broker "$CITYGATE_MQTT_URL" --duration "$1" --quiet \
        --ready-file ready >"$2.out" 2>"$2.log" &
    tap_pid=$!
    pids+=("$tap_pid")
    for _ in $(seq 300); do
        [ -e ready ] && return 0
        kill -0 "$tap_pid" 2>/dev/null || die "citytap ($2) exited before subscribing"
        sleep 0.1
    done
    die "citytap ($2) did not subscribe within 30 s"
}

# 1. Good frames: every frame citysim saw acknowledged is received and verified.
tap 8 good
"$citysim" --broker "$CITYGATE_MQTT_URL" --nodes 4 --sites 2 --fleet-key "$key" --rate 5 \
    --duration 2 --seed 7 --quiet >sim.out 2>sim.log || die "citysim failed"
acked=$(sed -n 's/^citysim: published=[0-9]* acked=\([0-9]*\) .*/\1/p' sim.out)
[ -n "$acked" ] && [ "$acked" -gt 0 ] || die "no acknowledged frames in: $(cat sim.out)"
wait "$tap_pid"
rc=$?
[ "$rc" -eq 0 ] || fail "citytap exited $rc with good frames (want 0): $(cat good.log)"
grep -qx "citytap: received=$acked verified=$acked rejected=0" good.out ||
    fail "citytap's summary is not $acked received and verified: $(cat good.out)"

# 2. Frames signed with another fleet key: rejected, exit 1.
tap 8 bad
"$citysim" --broker "$CITYGATE_MQTT_URL" --nodes 4 --sites 2 --fleet-key "$other" --rate 5 \
    --duration 1 --seed 8 --quiet >sim2.out 2>sim2.log || die "citysim failed"
acked=$(sed -n 's/^citysim: published=[0-9]* acked=\([0-9]*\) .*/\1/p' sim2.out)
wait "$tap_pid"
rc=$?
[ "$rc" -eq 1 ] || fail "citytap exited $rc with wrongly signed frames (want 1)"
grep -qx "citytap: received=$acked verified=0 rejected=$acked" bad.out ||
    fail "citytap's summary is not $acked rejected: $(cat bad.out)"
grep -q "rejected (bad_signature)" bad.log || fail "no bad_signature reason: $(cat bad.log)"

# 3. A registry the gateway refuses is refused with its line, before any connection.
printf '[device node-0009]\nsite = site-00\nkey = %s\nrange.BOGUS = 0..1\n' "$key" >bad.ini
"$citytap" --registry bad.ini --broker "$CITYGATE_MQTT_URL" --duration 1 2>badreg.log
rc=$?
[ "$rc" -eq 78 ] || fail "citytap exited $rc on an invalid registry (want 78)"
grep -q "^citytap: bad.ini:4: " badreg.log || fail "no file:line message: $(cat badreg.log)"
"$citytap" --registry missing.ini 2>missing.log
rc=$?
[ "$rc" -eq 74 ] || fail "citytap exited $rc on a missing registry (want 74)"

finish
echo "ok: citytap verified $acked frames of each kind against the gateway's registry"
