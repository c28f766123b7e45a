# SPDX-License-Identifier: MIT
"""Strict reader of Prometheus's text exposition format (0.0.4), for
tests/check-prometheus.sh: what promtool's parser lets through and a
scraper or node_exporter's textfile collector would still trip over.

    promcheck.py FILE [STATS.json]

Checks: every line is a comment, a HELP, a TYPE or a sample; a family's
HELP and TYPE come once, before its samples, and its samples are
contiguous; types are gauge or counter, and counters end in _total; names
start with shmcache_; label values are quoted and escaped correctly; no
series appears twice; values are numbers.  Every table's sample carries
a table label.  With STATS.json (shmcachectl stats --all --json output),
each table's figures must equal that document's: the families named in
SAME below, and the table_info labels.  Prints one line per problem and
exits 1 if there is any.
"""
import json
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")

# Families whose value must equal a key of the JSON document, per table.
SAME = {
    "shmcache_table_entries": "entries",
    "shmcache_table_sets_total": "sets",
    "shmcache_table_deletes_total": "deletes",
    "shmcache_table_size_bytes": "size_bytes",
    "shmcache_table_used_bytes": "used_bytes",
    "shmcache_table_buckets": "buckets",
    "shmcache_table_generation": "generation",
    "shmcache_table_max_key_bytes": "max_key_bytes",
    "shmcache_table_max_value_bytes": "max_value_bytes",
    "shmcache_table_retired": "retired",
}


def unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse_labels(text, problems, lineno):
    labels = {}
    pos = 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if m is None:
            problems.append(f"line {lineno}: bad label set {{{text}}}")
            return labels
        if m.group(1) in labels:
            problems.append(f"line {lineno}: label {m.group(1)} twice")
        labels[m.group(1)] = unescape(m.group(2))
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                problems.append(f"line {lineno}: bad label set {{{text}}}")
                return labels
            pos += 1
    return labels


def main():
    problems = []
    help_, type_, done, series = {}, {}, set(), set()
    current = None
    samples = {}  # (name, table) -> value
    info = {}  # table -> labels
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    if not text.endswith("\n"):
        problems.append("the last line has no newline")
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, rest = line[2:6], line[7:]
            name, _, arg = rest.partition(" ")
            if not NAME.fullmatch(name) or not arg:
                problems.append(f"line {lineno}: bad {kind} line")
                continue
            seen = help_ if kind == "HELP" else type_
            if name in seen or name in done:
                problems.append(f"line {lineno}: second {kind} for {name}")
            if kind == "TYPE" and arg not in ("gauge", "counter"):
                problems.append(f"line {lineno}: type {arg}")
            seen[name] = arg
            if current is not None and current != name:
                done.add(current)
            current = name
            continue
        if line.startswith("#") or not line.strip():
            problems.append(f"line {lineno}: unexpected line {line!r}")
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if m is None:
            problems.append(f"line {lineno}: not a sample: {line!r}")
            continue
        name, ltext, value = m.groups()
        labels = parse_labels(ltext, problems, lineno) if ltext else {}
        if not name.startswith("shmcache_"):
            problems.append(f"line {lineno}: {name} lacks the shmcache_ prefix")
        if name not in help_ or name not in type_:
            problems.append(f"line {lineno}: {name} has no HELP or TYPE before it")
        if name != current or name in done:
            problems.append(f"line {lineno}: {name}'s samples are not together")
        if type_.get(name) == "counter" and not name.endswith("_total"):
            problems.append(f"line {lineno}: counter {name} lacks _total")
        if not NUMBER.match(value):
            problems.append(f"line {lineno}: value {value!r} is not a number")
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            problems.append(f"line {lineno}: {name}{labels} twice")
        series.add(key)
        if name.startswith("shmcache_table_"):
            if "table" not in labels:
                problems.append(f"line {lineno}: {name} has no table label")
            elif name == "shmcache_table_info":
                info[labels["table"]] = labels
            else:
                samples[(name, labels["table"])] = float(value)
    if len(sys.argv) > 2:
        with open(sys.argv[2], encoding="utf-8") as f:
            doc = json.load(f)
        tables = doc.get("tables", [doc])
        for t in tables:
            want = {"table": t["name"], "format_version": str(t["format_version"])}
            for k in ("mode", "path"):
                if t[k] is not None:
                    want[k] = t[k]
            if info.get(t["name"]) != want:
                problems.append(f"table_info of {t['name']}: {info.get(t['name'])} != {want}")
            for fam, k in SAME.items():
                got = samples.get((fam, t["name"]))
                if got != float(t[k]):
                    problems.append(f"{fam}{{table={t['name']!r}}} is {got}, JSON says {t[k]}")
        if len(info) != len(tables):
            problems.append(f"{len(info)} tables in table_info, {len(tables)} in the JSON")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
