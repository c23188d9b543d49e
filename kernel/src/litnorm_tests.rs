use super::*;

fn norm(sql: &str) -> Option<(String, Vec<Literal>)> {
    normalize(sql).map(|n| (n.sql().to_string(), n.literals))
}

fn sql_of(sql: &str) -> Option<String> {
    normalize(sql).map(|n| n.sql().to_string())
}

#[test]
fn pgbench_statements() {
    assert_eq!(
        norm("SELECT abalance FROM pgbench_accounts WHERE aid = 123456;"),
        Some((
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1;".into(),
            vec![Literal::Int4(123456)]
        ))
    );
    assert_eq!(
        norm("UPDATE pgbench_accounts SET abalance = abalance + -4321 WHERE aid = 99;"),
        Some((
            "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;".into(),
            vec![Literal::Int4(-4321), Literal::Int4(99)]
        ))
    );
    assert_eq!(
        norm("insert into pgbench_history (tid, bid, aid, delta, mtime) values (3, 1, 133223, -2344, CURRENT_TIMESTAMP);"),
        Some((
            "insert into pgbench_history (tid, bid, aid, delta, mtime) values ($1, $2, $3, $4, CURRENT_TIMESTAMP);".into(),
            vec![
                Literal::Int4(3),
                Literal::Int4(1),
                Literal::Int4(133223),
                Literal::Int4(-2344)
            ]
        ))
    );
}

#[test]
fn insert_values_rows() {
    // Whole values of each row, numbers and strings.
    assert_eq!(
        sql_of("INSERT INTO t VALUES (1, 'a''b'), (-2.5, 'c') RETURNING a"),
        Some("INSERT INTO t VALUES ($1, $2), ($3, $4) RETURNING a".into())
    );
    assert_eq!(
        norm("insert into t values ('x')").map(|(_, l)| l),
        Some(vec![Literal::Text("x".into())])
    );
    // Not a whole value: a cast, a call, an expression's first operand
    // (its second one is after an operator, as anywhere).
    assert_eq!(sql_of("INSERT INTO t VALUES ('1'::int, f(2))"), None);
    assert_eq!(
        sql_of("INSERT INTO t VALUES (1 + 2)"),
        Some("INSERT INTO t VALUES (1 + $1)".into())
    );
    assert_eq!(sql_of("INSERT INTO t VALUES ('a' || 'b')"), None);
    // Only the INSERT's own VALUES: not a VALUES in a subquery or a
    // SELECT, nor the ON CONFLICT target.
    assert_eq!(
        sql_of("INSERT INTO t SELECT * FROM (VALUES (1, 2)) v"),
        None
    );
    assert_eq!(sql_of("SELECT * FROM (VALUES (1)) v"), None);
    assert_eq!(sql_of("VALUES (1)"), None);
    assert_eq!(
        sql_of("INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2"),
        Some("INSERT INTO t VALUES ($1) ON CONFLICT (a) DO UPDATE SET b = $2".into())
    );
    // Unbalanced parentheses: left to the parser.
    assert_eq!(sql_of("INSERT INTO t VALUES (1))"), None);
    // A last value without its `)` is not one.
    assert_eq!(sql_of("INSERT INTO t VALUES (1"), None);
}

#[test]
fn literal_types() {
    let lits = |s: &str| norm(s).map(|(_, l)| l).unwrap_or_default();
    assert_eq!(lits("select a = 2147483647"), vec![Literal::Int4(i32::MAX)]);
    assert_eq!(
        lits("select a = 2147483648"),
        vec![Literal::Int8(2147483648)]
    );
    assert_eq!(
        lits("select a = -2147483648"),
        vec![Literal::Int4(i32::MIN)]
    );
    assert_eq!(
        lits("select a = 99999999999999999999"),
        vec![Literal::Numeric("99999999999999999999".into())]
    );
    assert_eq!(lits("select a = 1.5"), vec![Literal::Numeric("1.5".into())]);
    assert_eq!(
        lits("select a = -1e3"),
        vec![Literal::Numeric("-1e3".into())]
    );
    assert_eq!(
        lits("select a = 1.e-2"),
        vec![Literal::Numeric("1.e-2".into())]
    );
    assert_eq!(
        lits("select a = 'it''s'"),
        vec![Literal::Text("it's".into())]
    );
    assert_eq!(lits("select a = ''"), vec![Literal::Text(String::new())]);
    // The key tells the types apart.
    let k = |s: &str| normalize(s).map(|n| n.key);
    assert_ne!(k("select a = 1"), k("select a = 1.5"));
    assert_ne!(k("select a = 1"), k("select a = '1'"));
    assert_ne!(k("select a = 1"), k("select a = 5000000000"));
    assert_eq!(k("select a = 1"), k("select a = 2"));
}

#[test]
fn operators() {
    for op in ["=", "<>", "!=", "<", ">", "<=", ">=", "+", "*", "/", "%"] {
        assert_eq!(
            sql_of(&format!("select a {op} 5")),
            Some(format!("select a {op} $1")),
            "{op}"
        );
    }
    // Not safe: ||, binary -, LIKE, ^, ->, ~.
    for s in [
        "select 'a' || 'b'",
        "select a - 5",
        "select a like 'x%'",
        "select a ^ 2",
        "select j -> 'k'",
        "select a ~ 'x'",
        "select a = - - 5",
    ] {
        assert_eq!(sql_of(s), None, "{s}");
    }
    // Binary use only: `SELECT + 5`, `WHERE * 2` are not.
    assert_eq!(sql_of("select + 5"), None);
    assert_eq!(sql_of("select * from t where * 2"), None);
    assert_eq!(sql_of("select 7 / 2"), Some("select 7 / $1".into()));
    assert_eq!(sql_of("select (a) = 5"), Some("select (a) = $1".into()));
    assert_eq!(sql_of("select \"A\" = 5"), Some("select \"A\" = $1".into()));
    assert_eq!(
        sql_of("select count(*) > 5"),
        Some("select count(*) > $1".into())
    );
}

#[test]
fn unary_minus() {
    assert_eq!(
        norm("select a + - 5 from t"),
        Some(("select a + $1 from t".into(), vec![Literal::Int4(-5)]))
    );
    assert_eq!(
        norm("select a * -5"),
        Some(("select a * $1".into(), vec![Literal::Int4(-5)]))
    );
    // A sign glued to the operator (`=-5`): lexers disagree, left alone.
    assert_eq!(sql_of("select a =-5"), None);
    assert_eq!(sql_of("select a<>-5"), None);
    // `-5 ^ 2` is `-(5 ^ 2)`; `-5 * 2` is `(-5) * 2`.
    assert_eq!(sql_of("select a = -5 ^ 2"), None);
    assert_eq!(
        sql_of("select a = -5 * 2"),
        Some("select a = $1 * $2".into())
    );
    assert_eq!(sql_of("select a = -5::int"), None);
}

#[test]
fn positions_never_replaced() {
    for s in [
        "select 5",
        "select a from t where a in (1, 2)",
        "select f(1) from t",
        "select a from t where a = (5)",
        "select a from t order by a = 5",
        "select a from t group by a + 1",
        "select a + 1 from t group by 1 having count(*) > 1",
        "select a from t limit 5",
        "select a from t limit 1 + 1",
        "select a from t offset 2",
        "select distinct a + 1 from t",
        "select a from t where d = date '2020-01-01'",
        "select a from t where d = date'2020-01-01'",
        "select a from t where d = interval '1 day'",
        "select a from t where a = E'x\\'y'",
        "select a from t where a = 'x'::text",
        "select a from t where a = 5::int",
        "select a from t where a = 1.5.x",
        "select a from t where a = 5x",
        "select a from t where a = 0x10",
        "select a from t where a = 'x' collate \"C\"",
        "select a from t where a = 'x'\n'y'",
        "select a from t where b[1] = x",
        "select a from t where a = $1",
        "select a from t where a = $$x$$",
        "select a from t where a = 'a\\b'",
        "set x = 5",
        "explain select a from t where a = 5",
        "show x",
        "(select a = 5)",
        "delete from t where a = 5; select 1",
        "select a from t where a = 5 /* unterminated",
        "select a from t where a = 5 /* /* nested */ */",
        "select a = 1ea",
    ] {
        assert_eq!(sql_of(s), None, "{s}");
    }
}

#[test]
fn quoting_and_comments() {
    // Strings holding what looks like placeholders, quotes or comments.
    assert_eq!(
        norm("select a from t where b = '$1' and c = 'it''s -- not' and d = '/* x */'"),
        Some((
            "select a from t where b = $1 and c = $2 and d = $3".into(),
            vec![
                Literal::Text("$1".into()),
                Literal::Text("it's -- not".into()),
                Literal::Text("/* x */".into())
            ]
        ))
    );
    // A quoted identifier that looks like a literal or holds a quote.
    assert_eq!(
        sql_of("select \"it's\" = 5 from \"t\"\"x\""),
        Some("select \"it's\" = $1 from \"t\"\"x\"".into())
    );
    // Comments are skipped, kept in the text, and their content ignored.
    assert_eq!(
        sql_of("select a -- where a = 5\nfrom t where a = /* 7 */ 8 -- 9"),
        Some("select a -- where a = 5\nfrom t where a = /* 7 */ $1 -- 9".into())
    );
    assert_eq!(
        sql_of("select a from t where a = 5 ; -- trailing\n"),
        Some("select a from t where a = $1 ; -- trailing\n".into())
    );
    // E'' strings with escaped quotes do not end early.
    assert_eq!(
        sql_of("select a from t where b = E'\\' = 1' and c = 2"),
        Some("select a from t where b = E'\\' = 1' and c = $1".into())
    );
    // Unicode before and inside.
    assert_eq!(
        sql_of("select é from t where é = 'ü' and x = 3"),
        Some("select é from t where é = $1 and x = $2".into())
    );
}

#[test]
fn statement_kinds_and_clauses() {
    assert_eq!(
        sql_of("WITH x AS (SELECT a FROM t WHERE a = 1) SELECT * FROM x WHERE b <> 'q'"),
        Some("WITH x AS (SELECT a FROM t WHERE a = $1) SELECT * FROM x WHERE b <> $2".into())
    );
    assert_eq!(
        sql_of("delete from t where a >= 10 returning a"),
        Some("delete from t where a >= $1 returning a".into())
    );
    assert_eq!(
        sql_of("select case when a = 1 then 'x' else 'y' end from t"),
        Some("select case when a = $1 then 'x' else 'y' end from t".into())
    );
    // Literals before ORDER BY are replaced, after it not.
    assert_eq!(
        sql_of("select a from t where a > 1 order by a = 2 limit 3"),
        Some("select a from t where a > $1 order by a = 2 limit 3".into())
    );
    assert_eq!(
        sql_of("select a from t where a = 1 and b = 2 or c = 3"),
        Some("select a from t where a = $1 and b = $2 or c = $3".into())
    );
    assert_eq!(sql_of(""), None);
    assert_eq!(sql_of("  -- nothing\n"), None);
}

#[test]
fn keywords_in_any_case() {
    assert_eq!(classify("SeLeCt"), RESERVED | STATEMENT);
    assert_eq!(classify("PARTITION"), FREEZE);
    assert_eq!(classify("Group"), FOLLOW | BAIL);
    // Longer than any keyword, or one with a suffix: plain words.
    assert_eq!(classify("partitions"), 0);
    assert_eq!(classify("selected"), 0);
    assert_eq!(classify("wherever_you_go"), 0);
    assert_eq!(classify("é"), 0);
    assert_eq!(
        sql_of("SELECT a FROM t WHERE a = 1 ORDER BY a = 2"),
        Some("SELECT a FROM t WHERE a = $1 ORDER BY a = 2".into())
    );
    assert_eq!(sql_of("select DISTINCT a from t where a = 1"), None);
    assert_eq!(sql_of("Explain select 1 where 1 = 1"), None);
    assert_eq!(
        sql_of("INSERT INTO t VALUES (1, 'x') RETURNING a = 2"),
        Some("INSERT INTO t VALUES ($1, $2) RETURNING a = $3".into())
    );
    let n = normalize("select a from t where a = 1 and b = 'x'");
    assert_eq!(
        n.map(|n| n.key),
        Some("select a from t where a = $1 and b = $2\0iu".into())
    );
}

#[test]
fn integer_literals_take_the_smallest_type_at_every_boundary() {
    let cases: [(&str, bool, Literal); 10] = [
        ("2147483647", false, Literal::Int4(i32::MAX)),
        ("2147483648", false, Literal::Int8(2_147_483_648)),
        ("2147483648", true, Literal::Int4(i32::MIN)),
        ("2147483649", true, Literal::Int8(-2_147_483_649)),
        ("9223372036854775807", false, Literal::Int8(i64::MAX)),
        ("9223372036854775808", true, Literal::Int8(i64::MIN)),
        (
            "9223372036854775808",
            false,
            Literal::Numeric("9223372036854775808".into()),
        ),
        (
            "9223372036854775809",
            true,
            Literal::Numeric("-9223372036854775809".into()),
        ),
        (
            "99999999999999999999999",
            true,
            Literal::Numeric("-99999999999999999999999".into()),
        ),
        ("007", true, Literal::Int4(-7)),
    ];
    for (text, negative, want) in cases {
        assert_eq!(
            number_literal(text, negative, true),
            want,
            "{text} {negative}"
        );
    }
    assert_eq!(
        number_literal("1.5", true, false),
        Literal::Numeric("-1.5".into())
    );
}
