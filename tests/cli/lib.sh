# lib.sh -- sourced (not run) by the shell tests of the node's tools
# (citynode_boot.sh, cityflash_board.sh, cityflash_smp.sh,
# cityflash_provision.sh, cityflash_rollout.sh), after they have read their
# arguments:
#
#   tmp       a scratch folder, made the working directory, removed at exit;
#   pids      the process groups a test started (append their leaders): each
#             is SIGKILLed at exit, so a test that stops early leaves none;
#   fail MSG  a check failed: says so and counts it in fails;
#   die MSG   a check failed that the rest depends on: counts it, shows the
#             end of every *.log in tmp and exits 1;
#   finish    exits 1, saying how many, if any check failed.
tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL -- -"$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 70
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
die() {
    local f
    fail "$*"
    for f in *.log; do
        [ -e "$f" ] || continue
        echo "--- $f" >&2
        tail -n 20 "$f" >&2
    done
    exit 1
}
finish() {
    [ "$fails" -eq 0 ] || {
        echo "$fails check(s) failed" >&2
        exit 1
    }
}
