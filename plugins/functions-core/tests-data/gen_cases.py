#!/usr/bin/env python3
"""Fills in expected results for cases.in from a local PostgreSQL 15 and
writes cases.tsv (run: python3 gen_cases.py; needs `su postgres`).

cases.in lines: name<TAB>type:value<TAB>...   (value \\N is NULL)
cases.tsv lines: expected<TAB>name<TAB>type:value...
expected is the ::text output, \\N for NULL, or "ERROR <sqlstate>".
Fields escape backslash, newline and tab as \\\\, \\n, \\t.
"""
import os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))

def unesc(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == '\\' and i + 1 < len(s) and s[i+1] in 'nt\\':
            out.append({'n': '\n', 't': '\t', '\\': '\\'}[s[i+1]]); i += 2
        else:
            out.append(s[i]); i += 1
    return ''.join(out)

def esc(s):
    return s.replace('\\', '\\\\').replace('\n', '\\n').replace('\t', '\\t')

cases = []
for line in open(os.path.join(here, 'cases.in')):
    line = line.rstrip('\n')
    if not line.strip() or line.startswith('#'):
        continue
    cases.append(line)

stmts = ["set timezone='UTC'; set datestyle='ISO, MDY'; set intervalstyle='postgres'; set extra_float_digits=1;",
         "create function pg_temp.t(q text) returns text language plpgsql as $f$ declare r text; n bool; "
         "begin execute q into n, r; if n then return '<<NULL>>'; end if; return r; "
         "exception when others then return 'ERROR ' || sqlstate; end $f$;"]
for c in cases:
    parts = c.split('\t')
    name, args = parts[0], parts[1:]
    sql_args = []
    for a in args:
        ty, val = a.split(':', 1)
        if val == '\\N':
            sql_args.append('NULL::' + ty)
        else:
            sql_args.append("'" + unesc(val).replace("'", "''") + "'::" + ty)
    call = 'pg_catalog."%s"(%s)' % (name, ', '.join(sql_args))
    q = "select x is null, format('%%s', x) from (select %s as x) s" % call
    stmts.append("select replace(replace(replace(pg_temp.t(%s), '\\', '\\\\'), chr(10), '\\n'), chr(9), '\\t');"
                 % ("$q$" + q + "$q$"))
sql = '\n'.join(stmts)
res = subprocess.run(['su', 'postgres', '-c', 'psql -p 5432 -XAtq -v ON_ERROR_STOP=1'],
                     input=sql, capture_output=True, text=True)
if res.returncode != 0:
    sys.exit(res.stderr)
outs = res.stdout.split('\n')
if outs and outs[-1] == '':
    outs.pop()
assert len(outs) == len(cases), (len(outs), len(cases), res.stderr)
with open(os.path.join(here, 'cases.tsv'), 'w') as f:
    for c, o in zip(cases, outs):
        if o == '<<NULL>>':
            o = '\\N'
        f.write(o + '\t' + c + '\n')
print(len(cases), 'cases')
