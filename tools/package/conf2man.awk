# conf2man.awk -- citygate.conf(5) from `citygate --help-config`, the
# configuration reference generated from the gateway's key table, so that
# the man page, docs/configuration.md and the parser share one home.
#
#   citygate --help-config | awk -v version=0.1.0 -f conf2man.awk
#
# The input is the Markdown that --help-config prints: a "# " title, a
# paragraph, then per section a "## [name]" heading and a table whose rows
# are "| `key` | type | `default` | meaning |" (types such as above|below
# hold a bar, so cells are split on " | ").

# Escapes roff's backslash, turns `code` into bold and keeps a leading dot
# or quote from being read as a request.
function roff(s,    out) {
    gsub(/\\/, "\\e", s)
    out = ""
    while (match(s, /`[^`]*`/)) {
        out = out substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 1, RLENGTH - 2) "\\fR"
        s = substr(s, RSTART + RLENGTH)
    }
    out = out s
    if (out ~ /^[.']/)
        out = "\\&" out
    return out
}

BEGIN {
    print ".TH CITYGATE.CONF 5 \"\" \"citygate " version "\" \"citygate manual\""
    print ".SH NAME"
    print "citygate.conf \\- configuration file of citygate, the IoT telemetry gateway"
    print ".SH SYNOPSIS"
    print "/etc/citygate/citygate.conf"
    print ".SH DESCRIPTION"
    keys = 0
}
/^# / { next }
/^## / {
    if (!keys) {
        print ".SH KEYS"
        keys = 1
    }
    print ".SS " roff(substr($0, 4))
    next
}
/^\| key \|/ || /^\|---/ { next }
/^\| / {
    row = substr($0, 3, length($0) - 4)
    n = split(row, cell, / \| /)
    if (n != 4) {
        print "conf2man.awk: line " NR ": expected 4 cells, got " n > "/dev/stderr"
        exit 1
    }
    print ".TP"
    print roff(cell[1]) " (" roff(cell[2]) ", default " roff(cell[3]) ")"
    print roff(cell[4])
    next
}
/^$/ { para = 1; next }
{
    if (para)
        print ".PP"
    para = 0
    print roff($0)
}
END {
    print ".SH FILES"
    print ".TP"
    print "/etc/citygate/citygate.conf"
    print "the configuration the citygate service reads"
    print ".TP"
    print "/etc/citygate/devices.ini"
    print "the device registry: ids, sites and keys"
    print ".SH \"SEE ALSO\""
    print ".BR citygate (1),"
    print ".BR citynode (1),"
    print ".BR systemctl (1)"
}
