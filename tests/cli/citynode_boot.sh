#!/bin/bash
# citynode_boot.sh CITYNODE_BOOT CITYFLASH DATA_DIR -- the boot stage end to
# end, with shell scripts as payloads signed into MCUboot images: a test
# image that crashes, exits or never confirms is reverted at the next start
# and the REVERTED event says why; a confirming image stays and raises the
# security counter; a downgrade, an older security counter and an image
# signed with an untrusted key are refused with their reason; and a SIGKILL
# of the whole node (boot stage and payload) at 10 random moments of a swap
# and a revert always leaves a node that boots a verified image.
set -u
boot=$1 cf=$2 key=$3/mcuboot/golden.key
. "$(dirname "$0")/lib.sh"

# expect CODE PATTERN CMD...: runs CMD; checks its exit code and that its output matches PATTERN.
expect() {
    local code=$1 pattern=$2
    shift 2
    timeout 60 "$@" >out 2>&1
    local got=$?
    if [ "$got" -ne "$code" ] || ! grep -q -- "$pattern" out; then
        fail "$* -> exit $got (want $code, output matching '$pattern'):"
        cat out >&2
    fi
}

# image NAME VERSION COUNTER BODY [KEY]: a payload script signed as NAME.img.
image() {
    printf '#!/bin/sh\n%s\n' "$4" >"$1.sh"
    "$cf" image sign --key "${5:-$key}" --version "$2" --security-counter "$3" "$1.sh" "$1.img" >/dev/null ||
        fail "signing $1"
}

image v1 1.0.0 1 'echo "v1 running $*"'
image crash 2.0.0 1 'echo crashing; kill -SEGV $$'
image quits 2.1.0 1 'exit 3'
image hangs 3.0.0 1 'exec sleep 600'
image good 4.0.0 2 'echo "v4 running"; "$BOOT" --dir "$CITYNODE_BOOT_DIR" confirm'
image older 3.5.0 2 'echo older'
image oldctr 5.0.0 1 'echo oldctr'
"$cf" keys new other >/dev/null
image foreign 6.0.0 2 'echo foreign' other
export BOOT=$boot
# A trial long enough for a payload that confirms to do so on a loaded machine (a shell and
# the boot stage under a sanitizer can take over a second to start); the one case about the
# trial's deadline sets its own, short one, and waits for it.
b=("$boot" --dir node --key "$key.pub" --trial 30s)

expect 0 'installed and confirmed' "${b[@]}" init v1.img
expect 0 'v1 running a b' "${b[@]}" run -- a b

# A crash during the trial: reverted at the next start, with the reason.
expect 0 'installed' "${b[@]}" install crash.img
expect 0 'once, on trial' "${b[@]}" test
expect 0 'slot 1: 2.0.0+0 pending' "${b[@]}" status
expect 139 'crashing' "${b[@]}" run
expect 0 'REVERTED 2.0.0+0: killed by signal 11 before it confirmed' "${b[@]}" run
expect 0 'v1 running' "${b[@]}" run
expect 0 'last event: REVERTED 2.0.0+0' "${b[@]}" status

# An exit without confirming.
"${b[@]}" install quits.img >/dev/null && "${b[@]}" test >/dev/null
expect 3 'on trial' "${b[@]}" run
expect 0 'REVERTED 2.1.0+0: exited with status 3 before it confirmed' "${b[@]}" run

# Never confirms: ended at the trial's deadline, then reverted.
"${b[@]}" install hangs.img >/dev/null && "${b[@]}" test >/dev/null
expect 75 'not confirmed within 1s' "${b[@]}" --trial 1s run
expect 0 'REVERTED 3.0.0+0: not confirmed within 1s' "${b[@]}" run
expect 0 '"event":"REVERTED"' "${b[@]}" --json status

# Confirms itself: stays, and its security counter becomes the node's.
"${b[@]}" install good.img >/dev/null && "${b[@]}" test >/dev/null
expect 0 'v4 running' "${b[@]}" run
expect 0 'v4 running' "${b[@]}" run
expect 0 'security counter: 2' "${b[@]}" status
expect 0 'last event: CONFIRMED 4.0.0+0' "${b[@]}" status

# Refused: downgrade, older security counter, untrusted key, a confirm that is not needed.
"${b[@]}" install older.img >/dev/null
expect 65 'node refused: version 3.5.0+0 is older than installed 4.0.0+0' "${b[@]}" test
"${b[@]}" install oldctr.img >/dev/null
expect 65 'node refused: security counter 1 is older than installed 2' "${b[@]}" test
expect 65 'signed with a key this node does not trust' "${b[@]}" install foreign.img
expect 0 'v4 running' "${b[@]}" run
expect 0 'confirmed already' "${b[@]}" confirm

# Power cuts: SIGKILL the node's whole process group at a random moment of a
# start that swaps a test image in (which ends without confirming) and of the
# start after it, which reverts; after each cut the primary slot holds a
# verified image (v4, or the test image on trial) and the next start boots it.
image trial 7.0.0 2 'echo "v7 on trial"'
"${b[@]}" install trial.img >/dev/null
cp -a node template
for i in $(seq 10); do
    rm -rf node && cp -a template node
    "${b[@]}" test >/dev/null || fail "test before cut $i"
    for step in swap revert; do
        setsid "${b[@]}" run >cut.log 2>&1 &
        pid=$!
        sleep "0.$((RANDOM % 300))"
        kill -KILL -- -"$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        out=$("${b[@]}" --json status)
        echo "$out" | grep -q '"slot":0,"version":"[47].0.0+0","bootable":true,"active":true' ||
            fail "cut $i ($step): primary not bootable: $out"
    done
    # Whatever the cuts left, the next start boots a verified image.
    timeout 30 "${b[@]}" run >next.log 2>&1
    grep -q 'booting [47].0.0+0' next.log || { fail "cut $i: next start did not boot"; cat next.log >&2; }
done

finish
echo "citynode-boot: all checks passed"
