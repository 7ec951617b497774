#!/bin/bash
# cityflash_smp.sh CITYNODE_BOOT CITYFLASH DATA_DIR -- the management port
# end to end: citynode-boot serves SMP on UDP and on a pty, cityflash talks
# to it. Echo and info on both; an upload over the pty SIGKILLed (node and
# cityflash) at 10 random points, each time leaving a node whose primary
# verifies and an upload that resumes exactly at the offset the node holds;
# then test, a start that boots the new image on trial, its confirm, and
# the refusal of an image signed with another key.
set -u
boot=$1 cf=$2 key=$3/mcuboot/golden.key
. "$(dirname "$0")/lib.sh"
node_pid=
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
b=("$boot" --dir node --key "$key.pub" --trial 10s)
export BOOT=$boot

# start_node: the management port in its own process group; waits until it answers.
start_node() {
    rm -f node/tty
    : >node.log
    setsid "${b[@]}" --udp "127.0.0.1:$port" --pty node/tty serve 2>>node.log &
    node_pid=$!
    pids=("$node_pid")
    # The port says so on stderr once both transports are open (tail -f wakes on inotify).
    timeout 20 tail -n +1 -f node.log | grep -q -m1 'management port on' && return 0
    fail "the node's management port did not come up"
    cat node.log >&2
    return 1
}
stop_node() {
    kill -KILL -- -"$node_pid" 2>/dev/null
    wait "$node_pid" 2>/dev/null
    node_pid=
    pids=()
}

printf '#!/bin/sh\necho v1\n' >v1.sh
"$cf" image sign --key "$key" --version 1.0.0 --security-counter 1 v1.sh v1.img >/dev/null
# v2: confirms itself, and carries 256 KiB of comment so that the upload takes a while.
{
    printf '#!/bin/sh\necho v2 running\n"$BOOT" --dir "$CITYNODE_BOOT_DIR" confirm\nexit 0\n'
    head -c 196608 /dev/urandom | base64 | sed 's/^/# /'
} >v2.sh
"$cf" image sign --key "$key" --version 2.0.0 --security-counter 1 v2.sh v2.img >/dev/null
"${b[@]}" init v1.img >/dev/null || fail "init"
start_node || exit 1

out=$("$cf" --conn "udp:127.0.0.1:$port" echo "hello udp") || fail "echo over udp"
[ "$out" = "hello udp" ] || fail "echo over udp said '$out'"
out=$("$cf" --conn serial:node/tty echo "hello pty") || fail "echo over the pty"
[ "$out" = "hello pty" ] || fail "echo over the pty said '$out'"
"$cf" --conn serial:node/tty info | grep -q 'citynode-boot' || fail "info"
"$cf" --conn serial:node/tty image list | grep -q 'slot 0: 1.0.0+0 active confirmed' || fail "image list"

# Ten cuts or more: node and cityflash SIGKILLed together at a random point
# of the upload, chosen as a share of the image (10-89 %) that the node must
# hold before the cut, so that a fast machine cuts in the middle too. The
# node's part file is polled; an upload that ends first is simply not a cut.
# A busy machine can starve the poll so that every upload of ten ends first:
# the cuts go on (30 at most) until one has left a part upload to resume.
total=$(stat -c %s v2.img)
resumes=0
cuts=0
for i in $(seq 30); do
    [ "$i" -gt 10 ] && [ "$resumes" -gt 0 ] && break
    cuts=$i
    setsid "$cf" --json --conn serial:node/tty image upload v2.img >up.json 2>/dev/null &
    up=$!
    target=$((total * (RANDOM % 80 + 10) / 100))
    for _ in $(seq 4000); do
        [ "$(stat -c %s node/upload.part 2>/dev/null || echo 0)" -ge "$target" ] && break
        kill -0 "$up" 2>/dev/null || break
        sleep 0.005
    done
    kill -KILL -- -"$up" 2>/dev/null
    stop_node
    wait "$up" 2>/dev/null
    "${b[@]}" --json status | grep -q '"slot":0,"version":"1.0.0+0","bootable":true' ||
        fail "cut $i: the primary is not the verified 1.0.0"
    held=$(stat -c %s node/upload.part 2>/dev/null || echo 0)
    start_node || exit 1
    [ "$held" -gt 0 ] && [ "$held" -lt "$total" ] || continue
    # The next upload must start exactly where the node stands.
    out=$("$cf" --json --conn serial:node/tty image upload v2.img 2>/dev/null)
    echo "$out" | grep -q "\"resumed_at\":$held," || fail "cut $i: node held $held, upload said $out"
    resumes=$((resumes + 1))
done
out=$("$cf" --json --conn serial:node/tty image upload v2.img) || fail "final upload: $out"
echo "$out" | grep -q "\"bytes\":$total" || fail "final upload: $out"
echo "cuts that left a part upload to resume: $resumes of $cuts"
[ "$resumes" -gt 0 ] || fail "no cut left a half upload to resume"
hash=$(echo "$out" | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')

# Test it, start the node: it boots on trial and confirms itself.
"$cf" --conn serial:node/tty image test "$hash" | grep -q 'slot 1: 2.0.0+0 pending' || fail "image test"
"$cf" --conn "udp:127.0.0.1:$port" reset >/dev/null || fail "reset"
wait "$node_pid" 2>/dev/null
node_pid=
pids=()
timeout 60 "${b[@]}" run >run.log 2>&1 || fail "run: $(cat run.log)"
grep -q 'v2 running' run.log || fail "v2 did not boot: $(cat run.log)"
start_node || exit 1
"$cf" --conn "udp:127.0.0.1:$port" image list | grep -q 'slot 0: 2.0.0+0 active confirmed' ||
    fail "v2 not confirmed: $("$cf" --conn "udp:127.0.0.1:$port" image list)"

# Refused with the reason: another key; a test of a hash the node does not have.
"$cf" keys new other >/dev/null
"$cf" image sign --key other --version 3.0.0 --security-counter 1 v1.sh foreign.img >/dev/null
"$cf" --conn "udp:127.0.0.1:$port" image upload foreign.img >out 2>&1
[ $? -eq 65 ] && grep -q 'signed with a key this node does not trust' out || fail "foreign image: $(cat out)"
"$cf" --conn "udp:127.0.0.1:$port" image test "$(printf '%064d' 0)" >out 2>&1
[ $? -eq 65 ] && grep -q 'no image with that hash' out || fail "unknown hash: $(cat out)"
"$cf" --conn "udp:127.0.0.1:$port" image list | grep -q 'slot 0: 2.0.0+0 active confirmed' || fail "list after refusals"

# The rate over both transports (for docs/field.md; not asserted).
for conn in "udp:127.0.0.1:$port" serial:node/tty; do
    "$cf" --conn "$conn" image upload v2.img 2>/dev/null | grep uploaded | sed "s|^|$conn: |"
done

finish
echo "cityflash over SMP: all checks passed"
