#!/usr/bin/env python3
"""Regenerates pg_format_cases.tsv from a local PostgreSQL 15:
   runuser -u postgres -- python3 pg_format_gen.py > pg_format_cases.tsv
Each line: TimeZone, DateStyle, type or `from>to` cast, input, expected
text (or `ERROR <sqlstate>`)."""
import subprocess

ZONES = ["UTC", "America/New_York", "+02:00", "Asia/Kolkata", "5.5", "-7",
         "Europe/London", "Australia/Lord_Howe", "GMT+3", "Etc/GMT-14"]
STYLES = ["ISO, MDY", "ISO, DMY", "ISO, YMD", "SQL, MDY", "SQL, DMY",
          "German, DMY", "Postgres, MDY", "Postgres, DMY"]
CASES = [
    ("timestamptz", "2024-01-01 12:00:00+00"),
    ("timestamptz", "2024-07-01 12:00:00.5+00"),
    ("timestamptz", "2024-03-10 02:30"),
    ("timestamptz", "2024-11-03 01:30"),
    ("timestamptz", "2024-03-31 01:30"),
    ("timestamptz", "2024-10-27 01:30"),
    ("timestamptz", "2024-10-06 02:15"),
    ("timestamptz", "1850-01-01"),
    ("timestamptz", "0044-03-15 12:00 BC"),
    ("timestamptz", "2024-01-01 12:00 America/New_York"),
    ("timestamptz", "2024-07-01 12:00 Europe/Paris"),
    ("timestamptz", "2024-01-01 12:00 EST"),
    ("timestamptz", "01/02/2024 10:00"),
    ("timestamptz", "infinity"),
    ("timestamptz", "2024-03-04"),
    ("timestamptz", "3000-07-01 12:00"),
    ("timestamptz", "12000-07-01 12:00"),
    ("timestamptz", "Mon Mar 04 05:06:07.5 2024 EST"),
    ("timestamp", "2024-03-04 05:06:07"),
    ("timestamp", "01/02/2024 05:06"),
    ("timestamp", "03 04 2024"),
    ("timestamp", "Mon Mar 04 05:06:07 2024"),
    ("timestamp", "Mon 04 Mar 05:06:07 2024"),
    ("timestamp", "04.03.2024 05:06:07"),
    ("timestamp", "2024-01-01 12:00+05"),
    ("timestamp", "0044-03-15 12:00 BC"),
    ("date", "01/02/2024"),
    ("date", "01/02/03"),
    ("date", "13/01/2024"),
    ("date", "2024-03-04"),
    ("date", "02 Jan 2024"),
    ("date", "Jan-02-2024"),
    ("date", "02-Jan-2024"),
    ("date", "0044-03-15 BC"),
    ("date", "99/01/02"),
    ("date", "2024-02-30"),
    ("date", "-infinity"),
    ("time", "12:34:56.789"),
    ("timestamptz>date", "2024-07-04 02:00+00"),
    ("timestamptz>time", "2024-07-04 02:00+00"),
    ("timestamptz>timestamp", "2024-07-04 02:00+00"),
    ("timestamptz>text", "2024-07-04 02:00+00"),
    ("timestamp>timestamptz", "2024-07-04 02:00"),
    ("timestamp>timestamptz", "2024-03-10 02:30"),
    ("date>timestamptz", "2024-07-04"),
    ("date>text", "2024-07-04"),
    ("text>timestamptz", "2024-07-04 02:00"),
    ("timestamptz[]", "{\"2024-01-01 12:00+00\",infinity}"),
]


def run(zone, style, ty, inp):
    lit = "'" + inp.replace("'", "''") + "'"
    if ">" in ty:
        src, dst = ty.split(">")
        expr = f"({lit}::{src})::{dst}"
    else:
        expr = f"{lit}::{ty}"
    sql = (f"set timezone = '{zone}'; set datestyle = '{style}'; "
           f"\\set VERBOSITY sqlstate\nselect {expr};")
    p = subprocess.run(["psql", "-p", "5432", "-X", "-A", "-t", "-q"],
                       input=sql, capture_output=True, text=True)
    if p.returncode != 0 or p.stderr.strip():
        err = p.stderr.strip().split()[-1]
        return f"ERROR {err}"
    return p.stdout.rstrip("\n")


for zone in ZONES:
    for style in STYLES:
        for ty, inp in CASES:
            print("\t".join([zone, style, ty, inp, run(zone, style, ty, inp)]))
