#!/bin/sh
# cityflash_image.sh CITYFLASH DATA_DIR -- `cityflash keys` and `cityflash
# image sign|verify` against the golden MCUboot image in DATA_DIR/mcuboot
# (made by imgtool; test_image rebuilds it byte by byte from design.md):
# signing the golden payload with the golden key must reproduce it exactly,
# and every refusal must give its exit code and its plain-language reason.
set -u
cf=$1
data=$2/mcuboot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect CODE PATTERN CMD...: runs CMD, checks its exit code and that its output matches PATTERN.
expect() {
    code=$1 pattern=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" -ne "$code" ] || ! grep -q -- "$pattern" "$tmp/out"; then
        echo "FAIL: $* -> exit $got (want $code), output:" >&2
        cat "$tmp/out" >&2
        fails=$((fails + 1))
    fi
}

expect 0 'security counter  5' "$cf" image verify --key "$data/golden.key.pub" "$data/golden.img"
expect 0 'version           1.2.3+4' "$cf" image verify --key "$data/golden.key.pub" "$data/golden.img"
expect 0 '"security_counter":5' "$cf" --json image verify "$data/golden.img"

expect 0 'security counter 5' "$cf" image sign --key "$data/golden.key" --version 1.2.3+4 \
    --security-counter 5 "$data/golden.payload" "$tmp/signed.img"
cmp "$data/golden.img" "$tmp/signed.img" || { echo "FAIL: signed image differs from golden" >&2; fails=$((fails + 1)); }

expect 0 'give it to the nodes' "$cf" keys new "$tmp/k"
[ "$(stat -c %a "$tmp/k")" = 600 ] || { echo "FAIL: private key mode" >&2; fails=$((fails + 1)); }
expect 73 'never overwritten' "$cf" keys new "$tmp/k"
expect 65 "signed with another key than $tmp/k.pub" "$cf" image verify --key "$tmp/k.pub" "$data/golden.img"

# The last byte is the signature's: the hash still matches, the signature does not.
cp "$data/golden.img" "$tmp/badsig.img"
printf '\377' | dd of="$tmp/badsig.img" bs=1 seek=$(($(stat -c %s "$tmp/badsig.img") - 1)) conv=notrunc 2>/dev/null
expect 65 "signature does not match key $data/golden.key.pub" "$cf" image verify --key "$data/golden.key.pub" "$tmp/badsig.img"
expect 65 '"exit":65' "$cf" --json image verify --key "$data/golden.key.pub" "$tmp/badsig.img"

head -c 100 "$data/golden.img" >"$tmp/short.img"
expect 65 'damaged or incomplete\|larger than the slot' "$cf" image verify "$tmp/short.img"
expect 65 'no image' "$cf" image verify "$data/golden.payload"
expect 66 'No such file' "$cf" image verify "$tmp/missing.img"
expect 64 'expected MAJOR.MINOR' "$cf" image sign --key "$tmp/k" --version 1.x "$data/golden.payload" "$tmp/x.img"
expect 64 "Try 'cityflash image sign --help'" "$cf" image sign --key "$tmp/k" "$data/golden.payload" "$tmp/x.img"
expect 0 'usage: cityflash' "$cf" --help

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "cityflash image: all checks passed"
