//! Table-driven tests: `tests-data/cases.tsv` holds calls and the text
//! output (or SQLSTATE) the local PostgreSQL 15 gave for them; see
//! `tests-data/gen_cases.py`.

use aiondb_sdk::prelude::*;
use aiondb_sdk::value::{parse_text, write_text};

use crate::{all_defs, call, CoreFunctions};

const CASES: &str = include_str!("../tests-data/cases.tsv");

fn unesc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.peek() {
                Some('n') => {
                    it.next();
                    out.push('\n');
                    continue;
                }
                Some('t') => {
                    it.next();
                    out.push('\t');
                    continue;
                }
                Some('\\') => {
                    it.next();
                    out.push('\\');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

fn data_type(name: &str) -> DataType {
    let (base, is_array) = match name.strip_suffix("[]") {
        Some(b) => (b, true),
        None => (name, false),
    };
    let id = TypeId::from_sql_name(base).unwrap_or_else(|| panic!("unknown type {name}"));
    DataType {
        id,
        typmod: -1,
        is_array,
    }
}

/// Exact-type overload resolution; `Any` only when nothing matches exactly.
fn resolve(name: &str, types: &[DataType]) -> Option<u32> {
    let fits = |declared: &DataType, t: &DataType, loose: bool| {
        declared == t || (loose && declared.id == TypeId::Any && (t.is_array || !declared.is_array))
    };
    for loose in [false, true] {
        for (id, d) in all_defs() {
            if d.name != name {
                continue;
            }
            let ok = if d.variadic {
                types.len() + 1 >= d.args.len()
                    && types.iter().enumerate().all(|(i, t)| {
                        let decl = d.args.get(i).or(d.args.last());
                        decl.is_some_and(|decl| fits(decl, t, loose))
                    })
            } else {
                d.args.len() == types.len()
                    && d.args
                        .iter()
                        .zip(types)
                        .all(|(decl, t)| fits(decl, t, loose))
            };
            if ok {
                return Some(id);
            }
        }
    }
    None
}

fn run_case(line: &str) -> Result<(), String> {
    let mut fields = line.split('\t');
    let expected = fields.next().unwrap_or_default();
    let name = fields.next().unwrap_or_default();
    let mut types = Vec::new();
    let mut values = Vec::new();
    for f in fields {
        let (ty, val) = f.split_once(':').ok_or("bad arg")?;
        let t = data_type(ty);
        types.push(t);
        values.push(if val == "\\N" {
            Value::Null
        } else {
            parse_text(t, &unesc(val)).map_err(|e| format!("bad input {val}: {e}"))?
        });
    }
    let id = resolve(name, &types).ok_or_else(|| format!("no overload for {name}{types:?}"))?;
    let got = match call(id, &values) {
        Ok(Value::Null) => "\\N".to_string(),
        Ok(v) => {
            let def = crate::lookup(id).ok_or("lookup")?;
            if def.returns.id != TypeId::Any {
                let vt = v.data_type();
                let want = def.returns;
                let same_kind = vt.is_some_and(|t| {
                    t.is_array == want.is_array
                        && (t.id == want.id || (t.id == TypeId::Text && want.id == TypeId::Text))
                });
                if !same_kind {
                    return Err(format!("{name}: returned {vt:?}, declared {want}"));
                }
            }
            let mut s = String::new();
            write_text(&v, &mut s);
            s.replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('\t', "\\t")
        }
        Err(e) => format!("ERROR {}", e.sqlstate),
    };
    if got == expected {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, got {got:?}"))
    }
}

#[test]
fn postgres_cases() {
    let mut failures = Vec::new();
    let mut n = 0;
    for line in CASES.lines().filter(|l| !l.trim().is_empty()) {
        n += 1;
        if let Err(e) = run_case(line) {
            failures.push(format!("{line}\n    {e}"));
        }
    }
    assert!(n >= 150, "only {n} cases");
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn signatures_are_consistent() {
    let sigs = CoreFunctions.functions().into_result().unwrap();
    let mut ids: Vec<u32> = sigs.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), sigs.len(), "ids are unique");
    for s in sigs.iter() {
        // The polymorphic result rule needs a polymorphic argument.
        if s.returns.id == TypeId::Any {
            assert!(s.args.iter().any(|a| a.id == TypeId::Any), "{}", s.name);
        }
        // Two overloads must differ in their argument types.
        let twins = sigs
            .iter()
            .filter(|o| o.name == s.name && o.args == s.args && o.variadic == s.variadic)
            .count();
        assert_eq!(twins, 1, "duplicate overload of {}", s.name);
    }
    for name in ["random", "gen_random_uuid"] {
        assert!(sigs
            .iter()
            .filter(|s| s.name.as_str() == name)
            .all(|s| s.volatility == Volatility::Volatile));
    }
    assert!(sigs.len() > 200, "{} signatures", sigs.len());
}

#[test]
fn wrong_variants_are_errors_not_panics() {
    for (id, d) in all_defs() {
        let n = d.args.len().max(1);
        for bad in [Value::Bool(true), Value::text("x"), Value::Int4(1)] {
            let args = vec![bad.clone(); n];
            // Any result is fine; only a panic would fail the test.
            let _ = call(id, &args);
        }
        let _ = call(id, &[]);
        let _ = d;
    }
    let e = call(999_999, &[]).unwrap_err();
    assert_eq!(e.sqlstate, SqlState::UNDEFINED_FUNCTION);
}

#[test]
fn legacy_callers_still_work() {
    // tests/ call the first overload with the right arity.
    let first = |name: &str, arity: usize| {
        all_defs()
            .find(|(_, d)| d.name == name && d.args.len() == arity)
            .map(|(id, _)| id)
            .unwrap()
    };
    assert_eq!(
        call(first("abs", 1), &[Value::Int8(-4)]).unwrap(),
        Value::Int8(4)
    );
    assert_eq!(
        call(first("length", 1), &[Value::text("héllo")]).unwrap(),
        Value::Int4(5)
    );
    assert_eq!(
        call(first("upper", 1), &[Value::text("straße")]).unwrap(),
        Value::text("STRAßE")
    );
    assert_eq!(
        call(first("sign", 1), &[Value::Float8(-2.0)]).unwrap(),
        Value::Float8(-1.0)
    );
    assert_eq!(
        call(first("abs", 1), &[Value::Float8(-2.5)]).unwrap(),
        Value::Float8(2.5)
    );
}

#[test]
fn random_values_are_in_range_and_uuids_are_v4() {
    let (rid, _) = all_defs().find(|(_, d)| d.name == "random").unwrap();
    let (uid, _) = all_defs()
        .find(|(_, d)| d.name == "gen_random_uuid")
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        match call(rid, &[]).unwrap() {
            Value::Float8(f) => assert!((0.0..1.0).contains(&f)),
            v => panic!("{v:?}"),
        }
        match call(uid, &[]).unwrap() {
            Value::Uuid(u) => {
                assert_eq!(u[6] >> 4, 4);
                assert_eq!(u[8] >> 6, 2);
                assert!(seen.insert(u));
            }
            v => panic!("{v:?}"),
        }
    }
}
