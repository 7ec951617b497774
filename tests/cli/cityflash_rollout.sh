#!/bin/bash
# cityflash_rollout.sh CITYNODE CITYNODE_BOOT CITYFLASH DATA_DIR -- `cityflash
# rollout` and `cityflash status` against five real citynode processes, each
# under its own citynode-boot, on the Mosquitto of tools/services.
#
#   1. Version 2.0.0 in groups 20%,60%,100% with --max-failures 1; node n3's
#      2.0.0 exits before it confirms, and n2 (n3's group) is SIGSTOPped, so
#      its transfer cannot start; with a keepalive of an hour it stays online
#      for the broker, and never answers the stop's cancel. The rollout stops
#      at n3's failure and says so (exit 65, n3 REVERTED with the boot stage's
#      reason, n2 cancelled without an answer after --cancel-timeout, the
#      cancel sent again meanwhile, well before --node-timeout; "unanswered
#      n2" in the state file); n3 runs 1.0.0 again; n1 is CONFIRMED on 2.0.0;
#      n4 and n5 (the last group) are untouched; n2, continued, reports FAILED
#      "cancelled" on 1.0.0. Resumed with --max-failures 2 (written to the
#      state file), the rollout retries n2 (it cancelled it: not a failure) to
#      CONFIRMED, keeps n3 failed, and stops at group 2's --min-success (1 of
#      2 confirmed).
#      Every command's usage error points to that command's --help, which
#      prints its options.
#      State files that do not parse, of a later format version, or --resume
#      with a setting other than --max-failures are refused.
#   2. Version 3.0.0 to every node; the rollout is SIGKILLed in the middle
#      and resumed with --resume from its state file (its version line taken
#      out, as files were before it): every node ends CONFIRMED on 3.0.0, and
#      no block a node acknowledged is sent again.
#   3. `cityflash status` as a table, --csv and --json agree with the nodes.
set -u
citynode=$1 boot=$2 cf=$3 key=$4/mcuboot/golden.key
. "$(dirname "$0")/lib.sh"
broker=$CITYGATE_MQTT_URL
nodes=(n1 n2 n3 n4 n5)

# image NAME VERSION PAD [CHECK]: a payload that runs citynode, padded with PAD random bytes
# (base64); CHECK runs first (2.0.0 exits before it confirms when NODE.ini.bad exists).
image() {
    printf '#!/bin/sh\n%s\nexec %s -c "$1"\n# %s\n' "${4:-}" "'$citynode'" \
        "$(head -c "$3" /dev/urandom | base64 -w 0)" >"$1.sh"
    "$cf" image sign --key "$key" --version "$2" --security-counter 1 "$1.sh" "$1.img" >/dev/null ||
        die "signing $1"
}
image v1 1.0.0 100
image v2 2.0.0 30000 '[ -e "$1.bad" ] && exit 3'
image v3 3.0.0 300000

: >registry.ini
for n in "${nodes[@]}"; do
    k=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '[device %s]\nsite = depot\nkey = %s\n\n' "$n" "$k" >>registry.ini
    cat >"$n.ini" <<EOF
[node]
id = $n
site = depot
key = $k
broker = $broker
interval_ms = 200ms
ring_path = $tmp/$n.ring
ring_bytes = 1MiB
reconnect_min_ms = 100ms
reconnect_max_ms = 1s
$([ "$n" = n2 ] && echo 'keepalive_s = 3600')

[sensor noise-1]
driver = sim-noise
EOF
    "$boot" --dir "$n.slots" --key "$key.pub" init v1.img >/dev/null || die "init $n"
    setsid sh -c "while :; do '$boot' --dir '$n.slots' --key '$key.pub' --trial 30s run -- '$tmp/$n.ini'; done" \
        >"$n.log" 2>&1 &
    pids+=($!)
done

fleet=(--broker "$broker" --registry registry.ini)
# field NODE KEY: a field of NODE in `cityflash --json status`.
status_json() { "$cf" --json status "${fleet[@]}" --wait 1s >status.json 2>/dev/null; }
field() {
    python3 -c 'import json,sys; d={n["node"]: n for n in json.load(open("status.json"))["nodes"]}; print(d[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}
# wait_all KEY VALUE SECONDS: until every node's KEY is VALUE.
wait_all() {
    for _ in $(seq "$3"); do
        status_json
        local ok=1
        for n in "${nodes[@]}"; do [ "$(field "$n" "$1")" = "$2" ] || ok=0; done
        [ $ok = 1 ] && return 0
    done
    return 1
}
wait_all running 1.0.0+0 60 || die "the nodes did not come up on 1.0.0"

# Usage errors name the command's own help, and each command has one.
for verb in keys 'image sign' 'image verify' image echo reset info provision rollout status; do
    # shellcheck disable=SC2086 # the verb's words are separate arguments
    "$cf" $verb --no-such-option >usage.out 2>&1
    rc=$?
    [ $rc -eq 64 ] && grep -qx "Try 'cityflash $verb --help'." usage.out ||
        fail "cityflash $verb --no-such-option: exit $rc: $(cat usage.out)"
    # shellcheck disable=SC2086
    "$cf" $verb --help >usage.out 2>&1 && grep -q "^usage: cityflash .*$verb" usage.out ||
        fail "cityflash $verb --help: $(cat usage.out)"
done
"$cf" rollout --help | grep -q -- '--cancel-timeout DUR' || fail "rollout --help lacks --cancel-timeout"
"$cf" rollout --image v2.img >usage.out 2>&1
grep -qx "Try 'cityflash rollout --help'." usage.out || fail "rollout without --nodes: $(cat usage.out)"

# 1. A failure in the second group stops the rollout; n2 (stopped) is cancelled.
touch n3.ini.bad
kill -STOP -- -"${pids[1]}"
started=$SECONDS
"$cf" rollout --image v2.img --nodes 'n*' --groups 20%,60%,100% --max-failures 1 \
    --state r2.state --node-timeout 60s --cancel-timeout 4s "${fleet[@]}" >r2.out 2>r2.err
rc=$?
took=$((SECONDS - started))
[ $rc -eq 65 ] || fail "rollout 2.0.0: exit $rc, want 65 (stopped)"
grep -q 'stopped: 1 nodes failed (--max-failures 1)' r2.out || fail "no stop line: $(cat r2.out)"
grep -q '^n3 .*failed *REVERTED: exited with status 3 before it confirmed' r2.out ||
    fail "n3's failure not reported: $(cat r2.out)"
# n2 is online and silent: the stop waits --cancel-timeout for it, sending the cancel again, and
# not the minute of --node-timeout; it says the node may install yet.
grep -Eq '^n2 .*parked *cancelled: the rollout stopped; no answer to the cancel \(sent [2-9] times in [0-9]+s\): it may install yet if it held every block' r2.out ||
    fail "n2's unanswered cancel not reported: $(cat r2.out)"
grep -q '1 cancels unanswered' r2.out || fail "no count of unanswered cancels: $(cat r2.out)"
grep -q '^rollout fw-.*group' r2.err || fail "no summary line on stderr"
grep -qx 'unanswered n2' r2.state && ! grep -q 'cancelled n2' r2.state ||
    fail "n2's unanswered cancel not in the state file: $(cat r2.state)"
echo "rollout 2.0.0 stopped after ${took}s (--cancel-timeout 4s, --node-timeout 60s)"
kill -CONT -- -"${pids[1]}"
rm n3.ini.bad
for _ in $(seq 30); do
    status_json
    [ "$(field n2 state)" = FAILED ] && break
done
[ "$(field n2 state)/$(field n2 running)/$(field n2 reason)" = FAILED/1.0.0+0/cancelled ] ||
    fail "n2: $(field n2 state) $(field n2 running) $(field n2 reason)"
[ "$(field n1 state)/$(field n1 running)" = CONFIRMED/2.0.0+0 ] || fail "n1: $(field n1 state) $(field n1 running)"
[ "$(field n3 state)/$(field n3 running)" = REVERTED/1.0.0+0 ] || fail "n3: $(field n3 state) $(field n3 running)"
for n in n4 n5; do
    [ "$(field $n state)/$(field $n running)" = IDLE/1.0.0+0 ] || fail "$n touched: $(field $n state)"
done

# A state file whose number does not parse is refused before anything is sent.
sed 's/^max_failures 1$/max_failures 2x/' r2.state >junk.state
"$cf" rollout --resume --state junk.state >junk.out 2>junk.err
rc=$?
[ $rc -eq 66 ] && grep -q 'junk.state is not a rollout state file' junk.err ||
    fail "state file with max_failures 2x: exit $rc: $(cat junk.out junk.err)"
# So is one whose number is beyond what the command line takes (--total-window 1 to 60000).
sed 's/^total_window .*/total_window 100000/' r2.state >junk.state
"$cf" rollout --resume --state junk.state >junk.out 2>junk.err
rc=$?
[ $rc -eq 66 ] && grep -q 'junk.state is not a rollout state file' junk.err ||
    fail "state file with total_window 100000: exit $rc: $(cat junk.out junk.err)"
# The file names its format; a later one is refused.
head -1 r2.state | grep -qx 'version 1' || fail "no version line first: $(cat r2.state)"
sed 's/^version 1$/version 2/' r2.state >junk.state
"$cf" rollout --resume --state junk.state >junk.out 2>junk.err
rc=$?
[ $rc -eq 66 ] && grep -q 'junk.state: state file version 2; this cityflash reads version 1' junk.err ||
    fail "state file version 2: exit $rc: $(cat junk.out junk.err)"
# --resume takes the settings from the file: of the options only --max-failures replaces one.
"$cf" rollout --resume --state r2.state --window 8 >junk.out 2>junk.err
rc=$?
[ $rc -eq 64 ] && grep -q -- '--resume takes the settings from the state file' junk.err ||
    fail "--resume --window 8: exit $rc: $(cat junk.out junk.err)"

# The same rollout resumed, with room for one more failure: n2 is retried, n3 stays failed.
"$cf" --json rollout --resume --state r2.state --max-failures 2 >r2r.json 2>r2r.err
rc=$?
[ $rc -eq 65 ] || fail "resumed rollout 2.0.0: exit $rc, want 65: $(cat r2r.json r2r.err)"
grep -qx 'max_failures 2' r2.state && grep -qx 'unanswered n2' r2.state ||
    fail "--max-failures 2 not kept in the state file: $(cat r2.state)"
python3 - r2r.json <<'EOF' || fail "resumed rollout 2.0.0: $(cat r2r.json)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["stopped"].startswith("group 2: 1 of 2 confirmed"), d
assert d["confirmed"] == 2 and d["failed"] == 1, d
o = {n["node"]: (n["outcome"], n["reason"]) for n in d["nodes"]}
assert o["n2"][0] == "confirmed", o
assert o["n3"] == ("failed", "REVERTED: exited with status 3 before it confirmed"), o
assert o["n4"][0] == "waiting" and o["n5"][0] == "waiting", o
EOF
status_json
[ "$(field n2 state)/$(field n2 running)" = CONFIRMED/2.0.0+0 ] || fail "n2: $(field n2 state) $(field n2 running)"

# 2. SIGKILL in the middle, then --resume.
"$cf" rollout --image v3.img --nodes 'n*' --groups 40%,100% --max-failures 2 \
    --window 2 --total-window 4 --state r3.state "${fleet[@]}" >r3a.out 2>r3a.err &
rpid=$!
# Killed at its second summary line (a second in), with blocks on their way.
for _ in $(seq 600); do
    grep -q 'blocks sent [1-9]' r3a.err && break
    sleep 0.1
done
grep -q 'blocks sent [1-9]' r3a.err || fail "the rollout sent no block: $(cat r3a.err)"
grep -q 'confirmed 5' r3a.err && fail "the rollout ended before it was killed"
kill -KILL $rpid
wait $rpid 2>/dev/null
sed -i '/^version /d' r3.state # as state files were written before the version line
"$cf" --json rollout --resume --state r3.state >r3.json 2>r3.err || fail "resume: $(cat r3.json r3.err)"
python3 - r3.json <<'EOF' || fail "resumed rollout: $(cat r3.json)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] and d["stopped"] is None and d["confirmed"] == 5, d
assert d["acked_blocks_sent_again"] == 0 and d["node_duplicates"] == 0, d
EOF
wait_all running 3.0.0+0 30 || fail "not every node runs 3.0.0"
for n in "${nodes[@]}"; do [ "$(field $n state)" = CONFIRMED ] || fail "$n: $(field $n state)"; done

# 3. The three views of status agree.
"$cf" status "${fleet[@]}" --wait 1s >table.out || fail "status"
[ "$(grep -c ' CONFIRMED .*3.0.0+0' table.out)" = 5 ] || fail "status table: $(cat table.out)"
"$cf" status "${fleet[@]}" --wait 1s --csv >status.csv || fail "status --csv"
head -1 status.csv | grep -q '^node,site,online,running,state,' || fail "csv header: $(head -1 status.csv)"
[ "$(grep -c '^n[1-5],depot,yes,3.0.0+0,CONFIRMED,' status.csv)" = 5 ] || fail "csv: $(cat status.csv)"

finish
echo "cityflash_rollout: ok"
