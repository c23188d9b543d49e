#!/usr/bin/env python3
"""Checks tests/slt/*.slt against a real PostgreSQL.

Each file runs in one psql session (records in order, like the AionDB runner)
in a fresh database created for this run; every record is checked:
`statement ok`, `statement error <regex>` (matched against
"<SQLSTATE>: <message>"), `statement count N` and `query <types> [sort]`
(rows rendered in PostgreSQL's text format with the conventions of
tests/slt/README.md). After each file, the tool checks that the file dropped
everything it created.

psql is driven with NUL-separated records and a unit-separator between
fields, so values are read back exactly; record boundaries are marked on
stdout and stderr separately, so results and errors never interleave.

Usage:
    tests/slt/tools/verify_pg.py [FILE.slt ...]       (default: all files)

Connection: psql's usual environment (PGHOST, PGPORT, PGUSER, PGPASSWORD).
Run as root with no PGUSER set, psql runs as the `postgres` OS user (peer
authentication over the local socket). PSQL overrides the psql binary.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

SLT_DIR = Path(__file__).resolve().parent.parent
DB = os.environ.get("SLT_VERIFY_DB", "aiondb_slt_verify")
NULL_MARK = "<<SLT-NULL>>"
FIELD_SEP = "\x1f"


def psql_base():
    cmd = [os.environ.get("PSQL", "psql"), "-X", "-A", "-t", "-q"]
    if os.geteuid() == 0 and "PGUSER" not in os.environ:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def admin(sql):
    r = subprocess.run(
        psql_base() + ["-d", "postgres", "-c", sql],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        sys.exit(f"admin command failed: {sql}\n{r.stderr}")
    return r.stdout


class Record:
    def __init__(self, kind, line, sql, **kw):
        self.kind = kind  # "statement" or "query"
        self.line = line
        self.sql = sql
        self.expect_error = kw.get("expect_error")  # None or regex ("" = any)
        self.count = kw.get("count")
        self.types = kw.get("types", "")
        self.sort = kw.get("sort", "nosort")
        self.expected = kw.get("expected", [])


def parse_slt(path):
    lines = path.read_text().split("\n")
    records = []
    i = 0
    n = len(lines)
    while i < n:
        raw = lines[i]
        line = raw.strip()
        if not line or line.startswith("#"):
            i += 1
            continue
        start = i + 1
        words = line.split()
        head = words[0]
        if head in ("hash-threshold", "halt", "control"):
            if head == "halt":
                break
            i += 1
            continue
        if head not in ("statement", "query"):
            raise SyntaxError(f"{path}:{start}: unknown record {line!r}")
        i += 1
        sql_lines = []
        while i < n and lines[i].strip() and lines[i].strip() != "----":
            sql_lines.append(lines[i])
            i += 1
        sql = "\n".join(sql_lines)
        expected = []
        if i < n and lines[i].strip() == "----":
            i += 1
            while i < n and lines[i].strip():
                expected.append(lines[i])
                i += 1
        if not sql.strip():
            raise SyntaxError(f"{path}:{start}: record without SQL")
        if head == "statement":
            if len(words) < 2:
                raise SyntaxError(f"{path}:{start}: statement needs ok/error/count")
            if words[1] == "ok":
                records.append(Record("statement", start, sql))
            elif words[1] == "error":
                regex = line.split(None, 2)[2] if len(words) > 2 else ""
                records.append(Record("statement", start, sql, expect_error=regex))
            elif words[1] == "count":
                records.append(Record("statement", start, sql, count=int(words[2])))
            else:
                raise SyntaxError(f"{path}:{start}: bad statement record {line!r}")
        else:
            if len(words) >= 2 and words[1] == "error":
                regex = line.split(None, 2)[2] if len(words) > 2 else ""
                records.append(Record("statement", start, sql, expect_error=regex))
                continue
            if len(words) < 2 or not re.fullmatch(r"[ITRB]+", words[1]):
                raise SyntaxError(f"{path}:{start}: query needs column types [ITRB]+")
            sort = words[2] if len(words) > 2 else "nosort"
            if sort not in ("nosort", "rowsort", "valuesort"):
                raise SyntaxError(f"{path}:{start}: unknown sort mode {sort}")
            records.append(
                Record("query", start, sql, types=words[1], sort=sort, expected=expected)
            )
    return records


def render(v):
    if v == NULL_MARK:
        return "NULL"
    if v == "":
        return "(empty)"
    return v


def normalize(s):
    # sqllogictest-rs's default normalizer: trim, collapse whitespace.
    return " ".join(s.split())


def run_file(path, records):
    script = [
        "\\set QUIET on",
        f"\\pset null '{NULL_MARK}'",
        "\\pset recordsep_zero",
        "\\pset fieldsep '\\037'",
        "\\set VERBOSITY verbose",
        "\\set SHOW_CONTEXT never",
    ]
    for k, r in enumerate(records):
        script.append(f"\\echo @@SLT {k}@@")
        script.append(f"\\warn @@SLT {k}@@")
        sql = r.sql.rstrip()
        script.append(sql if sql.endswith(";") else sql + ";")
    script.append(f"\\echo @@SLT {len(records)}@@")
    script.append(f"\\warn @@SLT {len(records)}@@")
    p = subprocess.run(
        psql_base() + ["-d", DB, "-f", "-"],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
    )
    out = split_markers(p.stdout, len(records))
    err = split_markers(p.stderr, len(records))
    failures = []
    for k, r in enumerate(records):
        msg = check(r, out[k], err[k])
        if msg:
            failures.append(f"{path.name}:{r.line}: {msg}\n    SQL: {r.sql}")
    return failures


def split_markers(text, count):
    segs = [""] * (count + 1)
    parts = re.split(r"@@SLT (\d+)@@\n", text)
    # parts: [before, idx, seg, idx, seg, ...]
    for j in range(1, len(parts) - 1, 2):
        segs[int(parts[j])] = parts[j + 1]
    return segs


ERR_RE = re.compile(r"(?:^|\n)(?:psql:[^\n]*?: )?ERROR:  ([0-9A-Z]{5}): ([^\n]*)")


def check(r, out, err):
    m = ERR_RE.search(err)
    error = f"{m.group(1)}: {m.group(2)}" if m else None
    if r.expect_error is not None:
        if error is None:
            return f"expected error /{r.expect_error}/, statement succeeded"
        if r.expect_error and not re.search(r.expect_error, error):
            return f"expected error /{r.expect_error}/, got {error!r}"
        return None
    if error is not None:
        return f"unexpected error {error!r}"
    rows = [row.split(FIELD_SEP) for row in out.split("\0")[:-1]] if out else []
    if r.kind == "statement":
        if r.count is not None:
            return "statement count is not supported by this tool (use RETURNING)"
        return None
    width = len(r.types)
    for row in rows:
        if len(row) != width:
            return f"query returns {len(row)} columns, type string {r.types!r} says {width}"
    rendered = [[render(v) for v in row] for row in rows]
    if r.sort == "rowsort":
        by_cols = sorted(rendered)
        by_line = sorted(rendered, key=lambda row: " ".join(row))
        if by_cols != by_line:
            return "rowsort order depends on how rows are compared; change the data"
        rendered = by_cols
    elif r.sort == "valuesort":
        vals = sorted(v for row in rendered for v in row)
        rendered = [[v] for v in vals]
    actual = [normalize(" ".join(row)) for row in rendered]
    expected = [normalize(e) for e in r.expected]
    if actual != expected:
        return (
            "result mismatch\n    expected:\n      "
            + "\n      ".join(expected)
            + "\n    actual:\n      "
            + "\n      ".join(actual)
        )
    return None


def leftovers():
    out = admin_db(
        "select string_agg(c.relname, ',') from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where n.nspname not in ('pg_catalog', "
        "'information_schema', 'pg_toast') and c.relkind in ('r','v','S','m','p')"
    )
    extra = admin_db(
        "select string_agg(nspname, ',') from pg_namespace where nspname not in "
        "('pg_catalog','information_schema','pg_toast','public') "
        "and nspname not like 'pg_temp%' and nspname not like 'pg_toast_temp%'"
    )
    return ",".join(x for x in (out.strip(), extra.strip()) if x)


def admin_db(sql):
    r = subprocess.run(
        psql_base() + ["-d", DB, "-c", sql], capture_output=True, text=True
    )
    return r.stdout


def main():
    files = [Path(a) for a in sys.argv[1:]] or sorted(SLT_DIR.glob("*.slt"))
    admin(f"drop database if exists {DB}")
    admin(f"create database {DB} template template0 encoding 'UTF8' locale 'C.UTF-8'")
    total = 0
    all_failures = []
    try:
        for f in files:
            records = parse_slt(f)
            total += len(records)
            failures = run_file(f, records)
            left = leftovers()
            if left:
                failures.append(f"{f.name}: left objects behind: {left}")
            all_failures += failures
            print(f"{f.name}: {len(records)} records, {len(failures)} failed")
    finally:
        admin(f"drop database if exists {DB}")
    for msg in all_failures:
        print(msg)
    print(f"{total - len(all_failures)} passed, {len(all_failures)} failed")
    sys.exit(1 if all_failures else 0)


if __name__ == "__main__":
    main()
