#!/bin/sh
# services_usage.sh SERVICES -- tools/services refuses bad command lines with
# exit 64 and one message that names the problem (no stray exit code in it,
# no shell error about an unbound variable), before it starts anything.
set -u
services=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect MESSAGE ARGS...: `services ARGS` exits 64 and prints exactly "services: MESSAGE".
expect() {
    want="services: $1"
    shift
    "$services" "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" -ne 64 ] || [ "$(cat "$tmp/out")" != "$want" ]; then
        echo "FAIL: services $* -> exit $got (want 64), output:" >&2
        cat "$tmp/out" >&2
        echo "want: $want" >&2
        fails=$((fails + 1))
    fi
}

expect "--only takes mqtt, influx or vm (got 'redis')" run --only redis -- true
expect "--with takes mqtt, influx or vm (got 'redis')" run --with redis -- true
expect "--only takes mqtt, influx or vm (got '')" run --only
expect "unknown option --bogus" run --bogus -- true
expect "usage: services run|stop|start ... (--help)" bogus
expect "CITYGATE_SERVICES_DIR is not set: use inside 'services run'" stop mqtt

echo "services_usage: $fails failed"
[ "$fails" -eq 0 ]
