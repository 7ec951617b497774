#!/bin/sh
# docs_tools.sh DOC NAME PROGRAM [NAME PROGRAM ...] -- each program has a
# section "## NAME" in DOC (docs/tools.md), and every long option that section
# names (`--word`) is one that `PROGRAM --help` prints: the page cannot
# promise an option the program does not have. Options given to another
# program (in `other --option`, or a command line of a code block that starts
# with another program) are that program's, and not checked here.
set -u
doc=$1
shift
fails=0
while [ $# -ge 2 ]; do
    name=$1 prog=$2
    shift 2
    # The section: from its heading to the next heading of level 1 or 2
    # outside a code block.
    section=$(awk -v h="## $name" '
        /^```/ { code = !code }
        !code && /^##? / { on = ($0 == h); next }
        on' "$doc" | NAME=${name##*/} perl -ne '
        my $n = $ENV{NAME};
        $code = !$code, next if /^```/;
        next if $code && /^\s*(?:\S*\/)?([a-z][\w.-]*)\s/ && $1 ne $n;
        s/`(?:\S*\/)?([a-z][\w.-]*) [^`]*`/$1 eq $n ? $& : ""/ge;
        print')
    if [ -z "$section" ]; then
        echo "FAIL: $doc has no section '## $name'" >&2
        fails=$((fails + 1))
        continue
    fi
    if ! help=$("$prog" --help 2>&1); then
        echo "FAIL: $name --help failed" >&2
        fails=$((fails + 1))
        continue
    fi
    for opt in $(printf '%s\n' "$section" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
        if ! printf '%s\n' "$help" | grep -qE -- "$opt([^a-z0-9-]|\$)"; then
            echo "FAIL: $doc, section '$name', names $opt, which '$name --help' does not print" >&2
            fails=$((fails + 1))
        fi
    done
done
if [ $# -ne 0 ]; then
    echo "usage: docs_tools.sh DOC NAME PROGRAM [NAME PROGRAM ...]" >&2
    exit 64
fi
[ "$fails" -eq 0 ] || exit 1
echo "ok: every option $doc names is in its program's --help"
