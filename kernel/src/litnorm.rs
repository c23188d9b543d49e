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
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    /// Cache key: the text with placeholders, a NUL, then the literals'
    /// types (`WHERE a = 1` and `WHERE a = 1.5` plan differently). One
    /// string holds both, built as the scan confirms each literal.
    pub key: String,
    /// Where the text ends in `key`.
    sql_len: usize,
    pub literals: Vec<Literal>,
}

impl Normalized {
    /// The statement text with placeholders.
    pub(crate) fn sql(&self) -> &str {
        &self.key[..self.sql_len]
    }

    /// Replaces the confirmed literal `p` of `sql` by the next
    /// placeholder.
    fn take(&mut self, sql: &str, last: &mut usize, p: Pending) {
        if self.literals.is_empty() {
            // Room for the text, a few longer placeholders and the types.
            self.key.reserve(sql.len() + 16);
        }
        self.key.push_str(&sql[*last..p.start]);
        self.key.push('$');
        push_num(&mut self.key, self.literals.len() + 1);
        *last = p.end;
        self.literals.push(p.literal);
    }
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

/// What a word is to the scanner, as bit flags (see [`classify`]).
///
/// A reserved keyword, after which an operator cannot be binary
/// (`SELECT + 1`, `WHERE * ...`); any other word counts as an operand.
const RESERVED: u8 = 1;
/// May follow a replaced literal: it ends the operand and binds more
/// loosely than any operator before it.
const FOLLOW: u8 = 2;
/// No literal is replaced after it, for the rest of the statement: sort
/// keys and constants that must stay constants (LIMIT, OFFSET).
const FREEZE: u8 = 4;
/// Makes the whole statement unsuitable: GROUP BY and DISTINCT match
/// expressions against the select list, where `a + 1` and `a + $1` differ.
const BAIL: u8 = 8;
/// Starts a statement whose plans are cached.
const STATEMENT: u8 = 16;

/// The flags of `word`, any case; 0 for words the scanner does not know.
/// One `match` on the lowered bytes: this runs for every word of every
/// simple query.
fn classify(word: &str) -> u8 {
    let b = word.as_bytes();
    // No word below is longer.
    let mut low = [0u8; 9];
    let Some(low) = low.get_mut(..b.len()) else {
        return 0;
    };
    low.copy_from_slice(b);
    low.make_ascii_lowercase();
    match &*low {
        b"all" => RESERVED,
        b"and" => RESERVED | FOLLOW,
        b"any" => RESERVED,
        b"array" => RESERVED,
        b"as" => RESERVED | FOLLOW,
        b"between" => RESERVED,
        b"by" => RESERVED,
        b"case" => RESERVED,
        b"cross" => FOLLOW,
        b"delete" => STATEMENT,
        b"distinct" => RESERVED | BAIL,
        b"else" => RESERVED | FOLLOW,
        b"end" => FOLLOW,
        b"except" => FOLLOW,
        b"exists" => RESERVED,
        b"fetch" => FOLLOW | FREEZE,
        b"for" => FOLLOW,
        b"from" => RESERVED | FOLLOW,
        b"full" => FOLLOW,
        b"group" => FOLLOW | BAIL,
        b"having" => RESERVED | FOLLOW | FREEZE,
        b"ilike" => RESERVED,
        b"in" => RESERVED,
        b"inner" => FOLLOW,
        b"insert" => STATEMENT,
        b"intersect" => FOLLOW,
        b"is" => RESERVED,
        b"join" => RESERVED | FOLLOW,
        b"left" => FOLLOW,
        b"like" => RESERVED,
        b"limit" => FOLLOW | FREEZE,
        b"not" => RESERVED,
        b"offset" => FOLLOW | FREEZE,
        b"on" => RESERVED | FOLLOW,
        b"or" => RESERVED | FOLLOW,
        b"order" => FOLLOW | FREEZE,
        b"partition" => FREEZE,
        b"returning" => RESERVED | FOLLOW,
        b"right" => FOLLOW,
        b"select" => RESERVED | STATEMENT,
        b"set" => RESERVED,
        b"some" => RESERVED,
        b"then" => RESERVED | FOLLOW,
        b"union" => FOLLOW,
        b"update" => STATEMENT,
        b"using" => RESERVED,
        b"values" => RESERVED,
        b"when" => RESERVED | FOLLOW,
        b"where" => RESERVED | FOLLOW,
        b"window" => FOLLOW | FREEZE,
        b"with" => RESERVED | STATEMENT,
        _ => 0,
    }
}

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
    if integer {
        // Digits only: parsed as they are and negated in i128, so no string
        // is built for the common case (i64::MIN included).
        if let Ok(u) = text.parse::<u64>() {
            let i = if negative {
                -i128::from(u)
            } else {
                i128::from(u)
            };
            if let Ok(i) = i32::try_from(i) {
                return Literal::Int4(i);
            }
            if let Ok(i) = i64::try_from(i) {
                return Literal::Int8(i);
            }
        }
    }
    Literal::Numeric(if negative {
        format!("-{text}")
    } else {
        text.to_string()
    })
}

/// Normalises a single statement; `None` when it has no literal to replace
/// or holds anything the scanner does not understand.
#[cfg(test)]
pub(crate) fn normalize(sql: &str) -> Option<Normalized> {
    let mut n = Normalized::default();
    normalize_into(sql, &mut n).then_some(n)
}

/// [`normalize`] into `out`, whose buffers are reused (a session keeps one:
/// a statement then allocates no key or literal list); false when the
/// statement has no literal to replace or holds anything the scanner does
/// not understand (`out` is then unspecified).
pub(crate) fn normalize_into(sql: &str, out: &mut Normalized) -> bool {
    out.key.clear();
    out.literals.clear();
    out.sql_len = 0;
    scan(sql, out).is_some()
}

fn scan(sql: &str, out: &mut Normalized) -> Option<()> {
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
    // Where the text not yet copied to `out.key` starts.
    let mut last = 0;
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
                let class = classify(word);
                if first_word {
                    if class & STATEMENT == 0 {
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
                if class & BAIL != 0 {
                    return None;
                }
                if class & FREEZE != 0 {
                    frozen = true;
                }
                follows_ok = class & FOLLOW != 0;
                tok = if class & RESERVED != 0 {
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
                out.take(sql, &mut last, p);
            }
        }
        prev = tok;
    }
    if first_word {
        return None;
    }
    if let Some(p) = pending.take() {
        if !p.row {
            out.take(sql, &mut last, p);
        }
    }
    if out.literals.is_empty() {
        return None;
    }
    out.key.push_str(&sql[last..]);
    out.sql_len = out.key.len();
    out.key.push('\u{0}');
    for l in &out.literals {
        out.key.push(l.code());
    }
    Some(())
}

fn push_num(out: &mut String, n: usize) {
    use std::fmt::Write;
    let _ = write!(out, "{n}");
}

#[cfg(test)]
#[path = "litnorm_tests.rs"]
mod tests;
