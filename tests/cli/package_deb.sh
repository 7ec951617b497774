#!/bin/sh
# package_deb.sh BUILD_DIR -- the Debian package as a user gets it (run under
# tools/services, on a build configured with CMAKE_INSTALL_PREFIX=/usr):
# cpack builds the .deb from BUILD_DIR; its control file has the libraries'
# packages from dpkg-shlibdeps, adduser and the conffiles; lintian reports no
# error; the systemd units pass `systemd-analyze verify` silently; unpacked with
# dpkg-deb -x into a temporary root, its citygate starts from the packaged
# sample configuration (broker, store, HTTP port and /etc, /var paths moved
# into the root) against the test broker and store, answers /readyz with 200
# and stops with exit 0 on SIGTERM; the packaged node sample passes
# citynode --check-config.
set -u
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
gw_pid=
lintian_pid=
trap 'kill $gw_pid $lintian_pid 2>/dev/null; wait; rm -rf "$tmp"' EXIT
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

cpack -G DEB -B "$tmp/out" --config "$build/CPackConfig.cmake" >"$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log" >&2; echo "FAIL: cpack" >&2; exit 1; }
deb=$(ls "$tmp"/out/citygate_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || { cat "$tmp/cpack.log" >&2; echo "FAIL: no citygate_*.deb" >&2; exit 1; }
echo "package: $(basename "$deb")"

# Control file: dependencies from dpkg-shlibdeps (Paho, libcurl, libsystemd
# ...), adduser for postinst, and the sample configuration as conffiles.
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libpaho-mqtt1.3 libcurl4 libsystemd0 libmicrohttpd12 libc6 adduser; do
    case ", $depends," in *", $lib "* | *", $lib,"*) ;; *) fail "Depends lacks $lib" ;; esac
done
dpkg-deb -e "$deb" "$tmp/control"
for f in /etc/citygate/citygate.conf /etc/citygate/devices.ini /etc/citygate/node-example.ini; do
    grep -qx "$f" "$tmp/control/conffiles" || fail "$f is not a conffile"
done

# lintian runs beside the checks below: errors fail, what else it says is
# printed (docs/operations.md explains each remaining tag).
lintian --fail-on error --tag-display-limit 0 "$deb" >"$tmp/lintian.log" 2>&1 &
lintian_pid=$!

root=$tmp/root
dpkg-deb -x "$deb" "$root"
for f in usr/bin/citygate usr/bin/citynode usr/share/man/man1/citygate.1.gz \
    usr/share/man/man5/citygate.conf.5.gz lib/systemd/system/citygate.service \
    lib/systemd/system/citynode@.service; do
    [ -e "$root/$f" ] || fail "/$f is not in the package"
done

# The units as systemd reads them, with ExecStart= pointing into the root
# and the man pages of Documentation= looked up there. verify exits 0 on an
# unknown key, only saying so: any output fails.
mkdir "$tmp/units"
for unit in citygate.service citynode@.service; do
    sed "s#=/usr/bin/#=$root/usr/bin/#" "$root/lib/systemd/system/$unit" >"$tmp/units/$unit"
done
for unit in citygate.service citynode@example.service; do
    MANPATH=$root/usr/share/man systemd-analyze verify "$tmp/units/$unit" >"$tmp/verify.log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] || [ -s "$tmp/verify.log" ]; then
        fail "systemd-analyze verify $unit (exit $rc)"
        cat "$tmp/verify.log" >&2
    fi
done

# The packaged sample configuration with the test's broker, store and port.
# Port 0: the kernel picks a free port, which the "running" line names.
conf=$tmp/citygate.conf
sed -e "s#= /etc/#= $root/etc/#" -e "s#= /var/#= $root/var/#" \
    -e "s#^url = tcp://.*#url = $CITYGATE_MQTT_URL#" \
    -e "s#^url = http://.*#url = $CITYGATE_INFLUX_URL#" \
    -e "s#^listen = .*#listen = 127.0.0.1:0#" \
    "$root/etc/citygate/citygate.conf" >"$conf"
mkdir -p "$root/var/lib/citygate"
"$root/usr/bin/citygate" -c "$conf" --check-config || fail "the sample configuration is refused"
"$root/usr/bin/citygate" -c "$conf" 2>"$tmp/citygate.log" &
gw_pid=$!
status=0
port=
i=0
while [ $i -lt 300 ] && kill -0 "$gw_pid" 2>/dev/null; do
    [ -n "$port" ] ||
        port=$(sed -n 's/.* running: .*http port \([0-9]*\),.*/\1/p' "$tmp/citygate.log")
    if [ -n "$port" ]; then
        status=$(curl -s -o "$tmp/readyz" -w '%{http_code}' "http://127.0.0.1:$port/readyz")
        [ "$status" = 200 ] && break
    fi
    sleep 0.1
    i=$((i + 1))
done
[ "$status" = 200 ] || { fail "/readyz answered '$status'"; cat "$tmp/readyz" "$tmp/citygate.log" >&2 2>/dev/null; }
kill -TERM "$gw_pid"
wait "$gw_pid"
rc=$?
gw_pid=
[ "$rc" = 0 ] || { fail "citygate exited $rc on SIGTERM"; cat "$tmp/citygate.log" >&2; }

node=$tmp/node.ini
sed -e "s#^broker = .*#broker = $CITYGATE_MQTT_URL#" "$root/etc/citygate/node-example.ini" >"$node"
"$root/usr/bin/citynode" -c "$node" --check-config >/dev/null ||
    fail "the sample node configuration is refused"

wait "$lintian_pid" || fail "lintian reports errors"
cat "$tmp/lintian.log"

[ "$fails" -eq 0 ] || exit 1
echo "ok: built, lintian, unpacked, /readyz 200, stopped cleanly"
