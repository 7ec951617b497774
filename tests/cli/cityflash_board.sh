#!/bin/bash
# cityflash_board.sh CITYNODE_BOOT CITYFLASH DATA_DIR -- the node's board
# limits: a slot size and a hardware class (MCUboot's UUID_CID TLV). An
# image larger than the slot, one built for another class and one built for
# no class are refused with their reason before any byte is sent, and the
# node holds no upload afterwards; citynode-boot install refuses the same;
# an image of the node's class that fits goes through.
set -u
boot=$1 cf=$2 key=$3/mcuboot/golden.key
. "$(dirname "$0")/lib.sh"
# expect CODE TEXT CMD...: CMD exits with CODE and its output holds TEXT.
expect() {
    local code=$1 text=$2 out rc
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    [ "$rc" -eq "$code" ] || fail "$*: exit $rc, wanted $code: $out"
    [[ $out == *"$text"* ]] || fail "$*: wanted '$text' in: $out"
}
a=8e1c2a4b-0d3f-4e55-9a6b-7c8d9e0f1a2b
other=00112233-4455-6677-8899-aabbccddeeff
head -c 1024 /dev/urandom >small.bin
head -c 102400 /dev/urandom >big.bin
sign() { "$cf" image sign --key "$key" --security-counter 1 "$@" >/dev/null || fail "sign $*"; }
sign --version 1.0.0 --cid $a small.bin v1.img
sign --version 2.0.0 --cid $a small.bin v2.img
sign --version 2.0.0 --cid $a big.bin big.img
sign --version 2.0.0 --cid $other small.bin other.img
sign --version 2.0.0 small.bin plain.img
expect 0 "hardware class    $a" "$cf" image verify --key "$key.pub" v1.img
expect 64 "--cid nope: expected a UUID" "$cf" image sign --key "$key" --version 1.0.0 --cid nope \
    small.bin x.img

b=("$boot" --dir node --key "$key.pub" --cid "$a" --slot-size 64KiB)
expect 0 "installed and confirmed" "${b[@]}" init v1.img
expect 65 "built for another hardware class" "${b[@]}" install other.img
expect 65 "larger than the slot (65536 bytes)" "${b[@]}" install big.img
expect 64 "--slot-size 1: a size" "${b[@]}" --slot-size 1 status

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid "${b[@]}" --udp "127.0.0.1:$port" serve 2>node.log &
pids+=($!)
conn=(--conn "udp:127.0.0.1:$port")
for _ in $(seq 200); do "$cf" "${conn[@]}" echo up >/dev/null 2>&1 && break; sleep 0.1; done
expect 65 "the image ($(stat -c %s big.img) bytes) is larger than the node's slot (65536 bytes); nothing was sent" \
    "$cf" "${conn[@]}" image upload big.img
expect 65 "other.img is built for hardware class $other, the node is $a; nothing was sent" \
    "$cf" "${conn[@]}" image upload other.img
expect 65 "plain.img is built for hardware class none, the node is $a" \
    "$cf" "${conn[@]}" image upload plain.img
[ -e node/upload.part ] && fail "a refused image left an upload on the node"
expect 0 "uploaded" "$cf" "${conn[@]}" image upload v2.img
expect 0 "slot 1: 2.0.0+0" "$cf" "${conn[@]}" image list

finish
echo "cityflash board limits: all checks passed"
