#!/usr/bin/env python3
"""Regenerates pg_ops.tsv from pg_ops_cases.txt by asking a PostgreSQL 15
server (psql on PATH, or PSQL="runuser -u postgres -- psql -p 5432").

Case lines (fields separated by ' | ', '#' starts a comment):
  B | ltype | lval | op | rtype | rval      binary operator
  U | op | type | val                       unary operator (-, NOT, ~)
  C | fromtype | val | totype               explicit cast
  T | type, type, ...                       common type (UNION)
A type of 'unknown' writes an untyped literal; a value of NULL writes NULL.
Output lines: the case fields, then '=> ' and 'type|value', 'NULL' type
values print as 'type|NULL', errors as 'ERR sqlstate message'.
"""
import os
import shlex
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
psql = shlex.split(os.environ.get("PSQL", "psql")) + ["-X", "-At", "-v", "VERBOSITY=verbose"]


def lit(ty, val):
    if val == "NULL":
        return "NULL" if ty == "unknown" else f"NULL::{ty}"
    q = "'" + val.replace("'", "''") + "'"
    return q if ty == "unknown" else f"{q}::{ty}"


def query(case):
    kind = case[0]
    if kind == "B":
        _, lt, lv, op, rt, rv = case
        expr = f"({lit(lt, lv)}) {op} ({lit(rt, rv)})"
    elif kind == "U":
        _, op, t, v = case
        expr = f"{op} ({lit(t, v)})"
    elif kind == "C":
        _, ft, v, tt = case
        expr = f"({lit(ft, v)})::{tt}"
    else:
        types = [t.strip() for t in case[1].split(",")]
        sel = " union all ".join(f"select {lit(t, '1' if t == 'unknown' else 'NULL')} as c" for t in types)
        return f"select pg_typeof(c)::text || '|' from ({sel}) s limit 1"
    return f"select pg_typeof(x)::text || '|' || coalesce(x::text, 'NULL') from (select {expr} as x) s"


def run(sql):
    p = subprocess.run(psql + ["-c", "set timezone='UTC'", "-c", sql], capture_output=True, text=True)
    out = (p.stdout + p.stderr).strip().splitlines()
    for line in out:
        if line.startswith("ERROR:"):
            code, _, msg = line[len("ERROR:"):].strip().partition(": ")
            return f"ERR {code} {msg}"
    return out[-1] if out else ""


def main():
    lines = []
    for raw in open(os.path.join(here, "pg_ops_cases.txt")):
        raw = raw.rstrip("\n")
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        case = [f.strip() for f in raw.split(" | ")]
        lines.append("\t".join(case) + "\t" + run(query(case)))
    with open(os.path.join(here, "pg_ops.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(len(lines), "cases", file=sys.stderr)


main()
