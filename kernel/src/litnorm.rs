//! Literal normalisation for the simple-query plan cache.
//!
//! Clients that inline values (pgbench, many ORMs) send statements that
//! differ only in their constants, so a cache keyed by the exact text never
//! hits. [`normalize`] scans the SQL text once, without a parser, and
//! replaces the literals it can prove are plain operands of a comparison or
//! arithmetic operator, or whole values of an `INSERT ... VALUES` row, by
//! `$n` placeholders. Everything it does not
//! understand makes it give up (`None`): the caller then takes the ordinary
//! parse-and-plan path, so a missed case costs speed, never correctness.

use aiondb_sdk::types::DataType;

/// A literal taken out of the statement, typed as the planner types the
/// literal itself.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    /// An integer that fits `integer`.
    Int4(i32),
    /// An integer that fits `bigint` but not `integer`.
    Int8(i64),
    /// Any other number (decimal point, exponent, or too large): its text,
    /// sign included, read by `numeric`'s input function.
    Numeric(String),
    /// A plain `'...'` string, unescaped: of unknown type until the planner
    /// infers the placeholder's type from its context.
    Text(String),
}

impl Literal {
    /// The type declared for its placeholder.
    pub(crate) fn declared(&self) -> DataType {
        match self {
            Literal::Int4(_) => DataType::INT4,
            Literal::Int8(_) => DataType::INT8,
            Literal::Numeric(_) => DataType::NUMERIC,
            Literal::Text(_) => DataType::UNKNOWN,
        }
    }

    fn code(&self) -> char {
        match self {
            Literal::Int4(_) => 'i',
            Literal::Int8(_) => 'l',
            Literal::Numeric(_) => 'n',
            Literal::Text(_) => 'u',
        }
    }
}

/// A statement with its safe literals replaced by `$1`, `$2`, ...
#[derive(Debug)]
pub(crate) struct Normalized {
    /// The statement text with placeholders.
    pub sql: String,
    /// Cache key: the text plus the literals' types (`WHERE a = 1` and
    /// `WHERE a = 1.5` plan differently).
    pub key: String,
    pub literals: Vec<Literal>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    /// Nothing yet (start of the statement).
    Start,
    /// `=`, `<>`, `!=`, `<`, `>`, `<=`, `>=`, `+`, `*`, `/`, `%` with an
    /// operand before it (a binary use).
    SafeOp,
    /// A lone `-`; `after_safe` when the token before it was a `SafeOp`
    /// or a `RowStart` (then a number after it is a negative literal in a
    /// safe position; `row` for the latter).
    Minus {
        after_safe: bool,
        row: bool,
        start: usize,
    },
    /// The `(` opening a row of an INSERT's VALUES, or a `,` between its
    /// values: a literal here that a `,` or `)` ends is a whole value,
    /// typed by its target column.
    RowStart,
    /// Something a binary operator may follow: a literal, a quoted
    /// identifier, `)`, `]`, or a word that is not a reserved keyword.
    Operand,
    /// A reserved keyword (`SELECT`, `WHERE`, `AND`, ...).
    Keyword,
    /// Anything else: `(`, `,`, `::`, `.`, other operators.
    Other,
}

/// Keywords after which an operator cannot be binary (`SELECT + 1`,
/// `WHERE * ...`); anything else that is a word counts as an operand.
const RESERVED: &[&str] = &[
    "all",
    "and",
    "any",
    "array",
    "as",
    "between",
    "by",
    "case",
    "distinct",
    "else",
    "exists",
    "from",
    "having",
    "ilike",
    "in",
    "is",
    "join",
    "like",
    "not",
    "on",
    "or",
    "returning",
    "select",
    "set",
    "some",
    "then",
    "using",
    "values",
    "when",
    "where",
    "with",
];

/// Keywords that may follow a replaced literal: they end the operand and
/// bind more loosely than any operator before it.
const FOLLOW: &[&str] = &[
    "and",
    "as",
    "cross",
    "else",
    "end",
    "except",
    "fetch",
    "for",
    "from",
    "full",
    "group",
    "having",
    "inner",
    "intersect",
    "join",
    "left",
    "limit",
    "offset",
    "on",
    "or",
    "order",
    "returning",
    "right",
    "then",
    "union",
    "when",
    "where",
    "window",
];

/// Keywords after which no literal is replaced, for the rest of the
/// statement: sort keys and constants that must stay constants (LIMIT,
/// OFFSET).
const FREEZE: &[&str] = &[
    "fetch",
    "having",
    "limit",
    "offset",
    "order",
    "partition",
    "window",
];

/// Keywords that make the whole statement unsuitable: GROUP BY and
/// DISTINCT match expressions against the select list, where `a + 1` and
/// `a + $1` differ.
const BAIL: &[&str] = &["distinct", "group"];

/// Statements whose plans are cached.
const STATEMENTS: &[&str] = &["delete", "insert", "select", "update", "with"];

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// PostgreSQL's operator characters.
fn is_op_char(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'<'
            | b'>'
            | b'='
            | b'~'
            | b'!'
            | b'@'
            | b'#'
            | b'%'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
    )
}

fn in_list(list: &[&str], word: &str) -> bool {
    list.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// A literal found in a safe position, waiting for the token after it to
/// confirm it ends there.
struct Pending {
    start: usize,
    end: usize,
    literal: Literal,
    /// A VALUES row item: only a `,` or `)` may end it.
    row: bool,
}

struct Scanner<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// Skips whitespace and comments; `None` on what it cannot skip safely
    /// (an unterminated or nested block comment).
    fn skip_blank(&mut self) -> Option<()> {
        loop {
            match self.s.get(self.pos) {
                Some(b) if b.is_ascii_whitespace() => self.pos += 1,
                Some(b'-') if self.s.get(self.pos + 1) == Some(&b'-') => {
                    while let Some(&b) = self.s.get(self.pos) {
                        if b == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                Some(b'/') if self.s.get(self.pos + 1) == Some(&b'*') => {
                    let body = &self.text[self.pos + 2..];
                    let close = body.find("*/")?;
                    // PostgreSQL nests block comments; leave those to the parser.
                    if body[..close].contains("/*") {
                        return None;
                    }
                    self.pos += 2 + close + 2;
                }
                _ => return Some(()),
            }
        }
    }

    /// Reads a `'...'` body starting after the opening quote; `backslash`
    /// for E'' strings. Returns the end (after the closing quote) and
    /// whether it held a doubled quote.
    fn quoted(&self, mut i: usize, quote: u8, backslash: bool) -> Option<(usize, bool)> {
        let mut doubled = false;
        loop {
            let b = *self.s.get(i)?;
            if backslash && b == b'\\' {
                i += 2;
                continue;
            }
            if b == quote {
                if self.s.get(i + 1) == Some(&quote) {
                    doubled = true;
                    i += 2;
                    continue;
                }
                return Some((i + 1, doubled));
            }
            i += 1;
        }
    }

    /// Reads a number at `pos`: its end, and whether it is an integer.
    fn number(&self, start: usize) -> Option<(usize, bool)> {
        let s = self.s;
        let mut i = start;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let mut integer = true;
        if s.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(s.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !s.get(i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        Some((i, integer))
    }
}

/// The literal a number's text denotes, typed as the planner types it.
fn number_literal(text: &str, negative: bool, integer: bool) -> Literal {
    let signed = if negative {
        format!("-{text}")
    } else {
        text.to_string()
    };
    if integer {
        if let Ok(i) = signed.parse::<i32>() {
            return Literal::Int4(i);
        }
        if let Ok(i) = signed.parse::<i64>() {
            return Literal::Int8(i);
        }
    }
    Literal::Numeric(signed)
}

/// Normalises a single statement; `None` when it has no literal to replace
/// or holds anything the scanner does not understand.
pub(crate) fn normalize(sql: &str) -> Option<Normalized> {
    let mut sc = Scanner {
        s: sql.as_bytes(),
        text: sql,
        pos: 0,
    };
    let s = sc.s;
    let mut prev = Tok::Start;
    let mut first_word = true;
    let mut frozen = false;
    let mut pending: Option<Pending> = None;
    let mut found: Vec<Pending> = Vec::new();
    let mut ended = false;
    let mut insert = false;
    // Parentheses open, and whether the scan is in an INSERT's top-level
    // VALUES list (rows at depth 1).
    let mut depth = 0usize;
    let mut in_values = false;
    loop {
        sc.skip_blank()?;
        let Some(&b) = s.get(sc.pos) else { break };
        if ended {
            // Something after the `;`: several statements.
            return None;
        }
        let start = sc.pos;
        // The token decides whether a literal before it ended there.
        let mut follows_ok = false;
        let tok;
        if is_word_start(b) {
            let mut i = start + 1;
            while s.get(i).is_some_and(|&c| is_word_char(c)) {
                i += 1;
            }
            let word = &sql[start..i];
            if s.get(i) == Some(&b'\'') {
                if first_word {
                    return None;
                }
                // A prefixed string (E'', B'', X'', N'', U&'' is `&`):
                // never replaced; E'' strings have backslash escapes.
                let backslash = word.eq_ignore_ascii_case("e");
                let (end, _) = sc.quoted(i + 1, b'\'', backslash)?;
                sc.pos = end;
                tok = Tok::Operand;
            } else {
                sc.pos = i;
                if first_word {
                    if !in_list(STATEMENTS, word) {
                        return None;
                    }
                    insert = word.eq_ignore_ascii_case("insert");
                    first_word = false;
                }
                if depth == 0 {
                    // Rows end at the first word after them (ON CONFLICT,
                    // RETURNING).
                    in_values = insert && word.eq_ignore_ascii_case("values");
                }
                if in_list(BAIL, word) {
                    return None;
                }
                if in_list(FREEZE, word) {
                    frozen = true;
                }
                follows_ok = in_list(FOLLOW, word);
                tok = if in_list(RESERVED, word) {
                    Tok::Keyword
                } else {
                    Tok::Operand
                };
            }
        } else if first_word {
            return None;
        } else if b.is_ascii_digit() {
            let (end, integer) = sc.number(start)?;
            sc.pos = end;
            // `1abc`, `0x1f`, `1.2.3`: not a plain number.
            let glued = s
                .get(end)
                .is_some_and(|&c| is_word_char(c) || c == b'.' || c == b'\'');
            let safe_after = match prev {
                Tok::SafeOp => Some((start, false, false)),
                Tok::RowStart => Some((start, false, true)),
                Tok::Minus {
                    after_safe: true,
                    row,
                    start: m,
                } => Some((m, true, row)),
                _ => None,
            };
            if let (Some((lit_start, negative, row)), false, false) = (safe_after, glued, frozen) {
                let literal = number_literal(&sql[start..end], negative, integer);
                pending = Some(Pending {
                    start: lit_start,
                    end,
                    literal,
                    row,
                });
                prev = Tok::Operand;
                continue;
            }
            tok = Tok::Operand;
        } else if b == b'\'' {
            let (end, doubled) = sc.quoted(start + 1, b'\'', false)?;
            let body = &sql[start + 1..end - 1];
            // A backslash means something only with
            // standard_conforming_strings off: leave it to the parser.
            if body.contains('\\') {
                return None;
            }
            sc.pos = end;
            let safe = matches!(prev, Tok::SafeOp | Tok::RowStart);
            if safe && !frozen && s.get(end) != Some(&b'\'') {
                let text = if doubled {
                    body.replace("''", "'")
                } else {
                    body.to_string()
                };
                pending = Some(Pending {
                    start,
                    end,
                    literal: Literal::Text(text),
                    row: prev == Tok::RowStart,
                });
                prev = Tok::Operand;
                continue;
            }
            tok = Tok::Operand;
        } else if b == b'"' {
            let (end, _) = sc.quoted(start + 1, b'"', false)?;
            sc.pos = end;
            tok = Tok::Operand;
        } else if b == b'$' {
            // `$1` (the statement has parameters already) or a dollar
            // quote: neither is for this cache.
            return None;
        } else if is_op_char(b) {
            let mut i = start;
            while s.get(i).is_some_and(|&c| is_op_char(c)) {
                // A comment starts inside an operator run.
                if (s[i] == b'-' && s.get(i + 1) == Some(&b'-'))
                    || (s[i] == b'/' && s.get(i + 1) == Some(&b'*'))
                {
                    break;
                }
                i += 1;
            }
            let mut op = &sql[start..i];
            // PostgreSQL's lexer: a multi-character operator ending in + or
            // - loses them unless it holds one of ~ ! @ # % ^ & | ` ?
            // (`=-5` is `=` then `-5`). Other lexers may split such a run
            // differently: nothing next to one is replaced.
            let mut glued_sign = false;
            if op.len() > 1 && !op.contains(['~', '!', '@', '#', '%', '^', '&', '|', '`', '?']) {
                let trimmed = op.trim_end_matches(['+', '-']);
                glued_sign = trimmed.len() != op.len();
                op = if trimmed.is_empty() {
                    &sql[start..start + 1]
                } else {
                    trimmed
                };
            }
            sc.pos = start + op.len();
            let binary = prev == Tok::Operand && !glued_sign;
            follows_ok = matches!(
                op,
                "=" | "<>" | "!=" | "<" | ">" | "<=" | ">=" | "+" | "-" | "*" | "/" | "%"
            );
            tok = match op {
                "=" | "<>" | "!=" | "<" | ">" | "<=" | ">=" | "+" | "*" | "/" | "%" if binary => {
                    Tok::SafeOp
                }
                "-" if !glued_sign => Tok::Minus {
                    after_safe: matches!(prev, Tok::SafeOp | Tok::RowStart),
                    row: prev == Tok::RowStart,
                    start,
                },
                _ => Tok::Other,
            };
            // A literal may be followed by these: `*`, `/` and `%` bind no
            // tighter than a negative literal's sign (`-5 * 2` is
            // `(-5) * 2` in both grammars); `^` and the rest are not here.
        } else {
            sc.pos = start + 1;
            match b {
                b';' => {
                    ended = true;
                    follows_ok = true;
                    tok = Tok::Other;
                }
                b')' => {
                    depth = depth.checked_sub(1)?;
                    follows_ok = true;
                    tok = Tok::Operand;
                }
                b',' => {
                    follows_ok = true;
                    tok = if in_values && depth == 1 {
                        Tok::RowStart
                    } else {
                        Tok::Other
                    };
                }
                b'(' => {
                    depth += 1;
                    tok = if in_values && depth == 1 {
                        Tok::RowStart
                    } else {
                        Tok::Other
                    };
                }
                b']' => tok = Tok::Operand,
                // `::`, `.`, `(`, `[`, `:`: a literal before them is part
                // of something else; `(` after a keyword/word is a call.
                _ => tok = Tok::Other,
            }
        }
        if let Some(p) = pending.take() {
            let ends = if p.row {
                matches!(b, b',' | b')')
            } else {
                follows_ok
            };
            if ends {
                found.push(p);
            }
        }
        prev = tok;
    }
    if first_word {
        return None;
    }
    if let Some(p) = pending.take() {
        if !p.row {
            found.push(p);
        }
    }
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(sql.len() + 4 * found.len());
    let mut key_types = String::with_capacity(found.len() + 1);
    let mut last = 0;
    let mut literals = Vec::with_capacity(found.len());
    for (n, p) in found.into_iter().enumerate() {
        out.push_str(&sql[last..p.start]);
        out.push('$');
        push_num(&mut out, n + 1);
        last = p.end;
        key_types.push(p.literal.code());
        literals.push(p.literal);
    }
    out.push_str(&sql[last..]);
    let mut key = String::with_capacity(out.len() + 1 + key_types.len());
    key.push_str(&out);
    key.push('\u{0}');
    key.push_str(&key_types);
    Some(Normalized {
        sql: out,
        key,
        literals,
    })
}

fn push_num(out: &mut String, n: usize) {
    use std::fmt::Write;
    let _ = write!(out, "{n}");
}

#[cfg(test)]
#[path = "litnorm_tests.rs"]
mod tests;
