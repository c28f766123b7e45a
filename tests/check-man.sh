#!/bin/sh
# SPDX-License-Identifier: MIT
# TAP: the man pages, as installed (built from doc/*.in where they have
# paths in them).  For every page:
#   groff   `groff -ww -z` says nothing
#   mandoc  `mandoc -T lint -W warning` says nothing (SKIP without mandoc)
#   quotes  no macro argument closes a quote with text right after it:
#           `.B x \fR("a", "b")` renders as `x ("a", b )`, quotes lost
#   paths   the rendered text holds no unexpanded $(sysconfdir) or @var@
# and for the programs:
#   options every long option of `shmcached --help` / `shmcachectl --help`
#           is on its page
#   commands every command line of `shmcachectl --help` has an entry in
#           shmcachectl(1) with the same options (--ttl on add, ...)
set -u
top=${top_srcdir:-.}
daemon=${SHMCACHED:-daemon/shmcached}
ctl=${SHMCACHECTL:-client/tool/shmcachectl}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmc-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C

if ! command -v groff >/dev/null 2>&1; then
    echo "1..0 # SKIP groff not installed (scripts/deps.sh installs it)"
    exit 0
fi
pages="shmcached.8 shmcached.json.5 shmcachectl.1 libshmcache.3"
# The page as built (builddir), else as shipped (srcdir).
page() {
    if [ -f "doc/$1" ]; then echo "doc/$1"; else echo "$top/doc/$1"; fi
}

echo "1..$((4 * 4 + 2 + 1))"
n=0
# res STATUS NAME FILE-WITH-DETAILS
res() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        sed 's/^/# /' "$3"
    fi
}

# Arguments of macro lines that close a quote with more text after it.
quote_check() {
    awk '
    /^[.\047]/ && !/^[.\047][ \t]*\\"/ {
        line = $0
        i = 2
        L = length(line)
        # skip the macro name
        while (i <= L && substr(line, i, 1) !~ /[ \t]/) i++
        while (i <= L) {
            c = substr(line, i, 1)
            if (c ~ /[ \t]/) { i++; continue }
            if (c == "\"") {
                i++
                while (i <= L) {
                    c = substr(line, i, 1)
                    if (c == "\\") { i += 2; continue }
                    if (c == "\"") {
                        if (substr(line, i + 1, 1) == "\"") { i += 2; continue }
                        break
                    }
                    i++
                }
                i++
                if (i <= L && substr(line, i, 1) !~ /[ \t]/) {
                    printf "%s:%d: text right after a closing quote: %s\n", \
                        FILENAME, FNR, line
                    bad = 1
                    break
                }
                while (i <= L && substr(line, i, 1) !~ /[ \t]/) i++
                continue
            }
            while (i <= L && substr(line, i, 1) !~ /[ \t]/) {
                if (substr(line, i, 2) == "\\\"") { i = L + 1; break }
                if (substr(line, i, 1) == "\\") i++
                i++
            }
        }
    }
    END { exit bad }' "$1"
}

for p in $pages; do
    f=$(page "$p")
    groff -ww -z -man -t "$f" >"$tmp/out" 2>&1
    [ ! -s "$tmp/out" ]
    res $? "$p: groff -ww -z" "$tmp/out"

    if command -v mandoc >/dev/null 2>&1; then
        mandoc -T lint -W warning "$f" >"$tmp/out" 2>&1
        [ ! -s "$tmp/out" ]
        res $? "$p: mandoc -T lint -W warning" "$tmp/out"
    else
        n=$((n + 1))
        echo "ok $n # SKIP $p: mandoc not installed (scripts/deps.sh)"
    fi

    quote_check "$f" >"$tmp/out" 2>&1
    res $? "$p: macro arguments keep their quotes" "$tmp/out"

    groff -man -Tascii -P-cbou "$f" 2>/dev/null | grep -nE '\$\(|@[a-z_]+@' \
        >"$tmp/out"
    [ ! -s "$tmp/out" ]
    res $? "$p: no unexpanded \$(var) or @var@ in the text" "$tmp/out"
done

# Every long option of a program's --help is on its page.
for prog in "$daemon:shmcached.8" "$ctl:shmcachectl.1"; do
    bin=${prog%:*}
    f=$(page "${prog#*:}")
    groff -man -Tascii -P-cbou "$f" 2>/dev/null >"$tmp/text"
    : >"$tmp/out"
    for o in $("$bin" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
        grep -qF -- "$o" "$tmp/text" ||
            echo "${prog#*:} lacks $o (in $(basename "$bin") --help)" >>"$tmp/out"
    done
    [ ! -s "$tmp/out" ]
    res $? "${prog#*:}: every long option of --help" "$tmp/out"
done

# Every command of shmcachectl --help has an entry in shmcachectl(1) whose
# first line carries the same --options.
groff -man -Tascii -P-cbou "$(page shmcachectl.1)" 2>/dev/null |
    sed -n '/^COMMANDS/,/^[A-Z]/p' >"$tmp/text"
: >"$tmp/out"
"$ctl" --help | sed -n 's/^  \([a-z][a-z]*\) \{1,\}\(.*\)$/\1 \2/p' |
    while read -r cmd rest; do
        syn=${rest%%  *} # the synopsis ends at two spaces
        entry=$(grep -E "^       $cmd( |\$)" "$tmp/text" | head -n 1)
        if [ -z "$entry" ]; then
            echo "shmcachectl.1 has no entry for \"$cmd\"" >>"$tmp/out"
            continue
        fi
        for o in $(echo "$syn" | grep -oE -- '--[a-z][a-z-]*'); do
            case $entry in
            *"$o"*) ;;
            *) echo "shmcachectl.1: \"$entry\" lacks $o (--help: $cmd $syn)" \
                >>"$tmp/out" ;;
            esac
        done
    done
[ ! -s "$tmp/out" ]
res $? "shmcachectl.1: every command of --help, with its options" "$tmp/out"
