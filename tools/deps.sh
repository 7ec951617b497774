# deps.sh -- the Debian packages citygate needs, installed when missing.
# Sourced by tools/demo, tools/test and tools/bench; defines citygate_install_deps
# and citygate_install_node_modules.

CITYGATE_PACKAGES=(
    build-essential cmake pkg-config git curl clang-format openssl
    protobuf-c-compiler libprotobuf-c-dev libssl-dev libcunit1-dev
    libpaho-mqtt-dev libmodbus-dev libcurl4-openssl-dev libmicrohttpd-dev
    libinih-dev libjansson-dev libcbor-dev uthash-dev zlib1g-dev
    mosquitto mosquitto-clients influxdb victoria-metrics
    tzdata python3 gnuplot-nox
    chromium nodejs
    libsystemd-dev systemd help2man file lintian
)

# Installs the packages that are not installed yet, with any extra ones named
# (tools/fuzz adds clang): one apt-get update, then one apt-get install;
# prints nothing when everything is there already.
citygate_install_deps() {
    local missing=() pkg
    local extra=("$@")
    command -v npm >/dev/null || extra+=(npm) # Debian's nodejs has it apart; NodeSource's has it inside
    for pkg in "${CITYGATE_PACKAGES[@]}" "${extra[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    if ((EUID != 0)); then
        echo "citygate: missing packages: ${missing[*]}; run as root or install them" >&2
        return 69
    fi
    echo "citygate: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Installs the browser tests' npm packages (Playwright, axe-core, uPlot) as
# tests/browser/package-lock.json pins them, when node_modules is missing or
# older than the lockfile. No browser is downloaded: the tests drive Debian's
# chromium.
citygate_install_node_modules() {
    local dir
    dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/browser" && pwd)
    [[ -f $dir/node_modules/.package-lock.json && ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]] &&
        return 0
    echo "citygate: npm ci in $dir" >&2
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2)
}
