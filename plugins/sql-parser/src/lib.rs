//! The SQL parser plugin: `sql.parser/1`.
//!
//! Parses with the `sqlparser` crate (PostgreSQL dialect) and ships each
//! statement's AST as a generic [`SyntaxTree`] (see
//! [`aiondb_sdk::syntax::generic`]) under the schema
//! [`SCHEMA_SQLPARSER`]: the planner decodes it back into
//! `sqlparser::ast::Statement` with serde. Errors follow PostgreSQL: SQLSTATE
//! 42601, `syntax error at or near "..."` / `syntax error at end of input`,
//! and a 1-based character position in the whole query string.

mod encode;

use aiondb_sdk::prelude::*;
use aiondb_sdk::syntax::generic::SCHEMA_SQLPARSER;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser as SqlParser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, TokenizerError};

/// The parser provider. Stateless: every call tokenizes and parses afresh.
pub struct SqlParserPlugin;

impl Parser for SqlParserPlugin {
    fn parse(&self, sql: RStr<'_>) -> AResult<RVec<SyntaxTree>> {
        parse_sql(sql.as_str()).map(RVec::from).into()
    }
}

/// Parses a (possibly multi-statement) query string into one tree per
/// statement. Whitespace- or comment-only statements are skipped, so an
/// empty query yields no trees (PostgreSQL's EmptyQueryResponse).
pub fn parse_sql(sql: &str) -> DbResult<Vec<SyntaxTree>> {
    if u32::try_from(sql.len()).is_err() {
        return Err(AionError::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            "query string is too long",
        ));
    }
    let dialect = PostgreSqlDialect {};
    let mut tokens = Vec::new();
    if let Err(e) = Tokenizer::new(&dialect, sql).tokenize_with_location_into_buf(&mut tokens) {
        return Err(tokenizer_error(sql, &tokens, &e));
    }

    let mut cursor = Cursor::new(sql);
    let mut trees = Vec::new();
    let mut rest = tokens.into_iter().peekable();
    loop {
        // One chunk: the tokens up to the next semicolon (or the end).
        let mut chunk: Vec<TokenWithSpan> = Vec::new();
        let mut terminator: Option<Location> = None;
        for t in rest.by_ref() {
            if t.token == Token::SemiColon {
                terminator = Some(t.span.start);
                break;
            }
            chunk.push(t);
        }
        let first = chunk.iter().position(|t| !is_trivia(&t.token));
        let last = chunk.iter().rposition(|t| !is_trivia(&t.token));
        if let (Some(first), Some(last)) = (first, last) {
            chunk.truncate(last + 1);
            chunk.drain(..first);
            trees.push(parse_chunk(sql, &mut cursor, chunk, terminator, &dialect)?);
        }
        if terminator.is_none() || rest.peek().is_none() {
            break;
        }
    }
    Ok(trees)
}

fn is_trivia(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

/// Parses one statement's tokens (no leading/trailing trivia, no semicolon).
fn parse_chunk(
    sql: &str,
    cursor: &mut Cursor<'_>,
    mut tokens: Vec<TokenWithSpan>,
    terminator: Option<Location>,
    dialect: &PostgreSqlDialect,
) -> DbResult<SyntaxTree> {
    // The chunk is non-empty: the caller checked.
    let (start_loc, end_loc) = match (tokens.first(), tokens.last()) {
        (Some(f), Some(l)) => (f.span.start, l.span.end),
        _ => return Err(AionError::internal("empty statement chunk")),
    };
    let (start_byte, start_char) = cursor.advance_to(start_loc);
    let (end_byte, _) = cursor.advance_to(end_loc);
    let source = sql.get(start_byte..end_byte).unwrap_or("");

    // Rebase locations so the AST's spans are relative to `source`.
    for t in &mut tokens {
        t.span.start = rebase(t.span.start, start_loc);
        t.span.end = rebase(t.span.end, start_loc);
    }
    let chunk = Chunk {
        sql,
        source,
        start_char,
        terminator,
    };
    normalize_copy_booleans(&mut tokens);
    let tokens = normalize_create_user(tokens);
    let tokens = normalize_connection_limit(tokens);
    let tokens = normalize_vacuum(tokens)?;
    let mut parser = SqlParser::new(dialect).with_tokens_with_locations(tokens);
    let statement = parser
        .parse_statement()
        .map_err(|e| chunk.parser_error(&parser, &e, dialect))?;
    let trailing = parser.peek_token_ref();
    if trailing.token != Token::EOF {
        let at = trailing.span.start;
        return Err(chunk.error_at(at, dialect));
    }
    drop(parser);

    let encoded = encode::encode(&statement, source, SCHEMA_SQLPARSER);
    drop_deep(statement, encoded.as_ref().map_or(usize::MAX, |(_, d)| *d));
    let (mut tree, _) = encoded?;
    tree.source_offset = start_byte as u32;
    tree.source_char_offset = start_char as u32;
    Ok(tree)
}

/// PostgreSQL's VACUUM (`VACUUM [FULL] [FREEZE] [VERBOSE] [ANALYZE] [t]`,
/// `VACUUM (option [value], ...) [t]`) is not sqlparser's (Redshift's):
/// the options are checked here and dropped, leaving `VACUUM [t]` (what a
/// vacuum changes that a session can observe here is the table's
/// statistics, which every VACUUM refreshes). pgbench sends
/// `vacuum analyze pgbench_branches`.
fn normalize_vacuum(tokens: Vec<TokenWithSpan>) -> DbResult<Vec<TokenWithSpan>> {
    use sqlparser::keywords::Keyword;
    let is_vacuum = matches!(tokens.first().map(|t| &t.token),
        Some(Token::Word(w)) if w.keyword == Keyword::VACUUM);
    if !is_vacuum {
        return Ok(tokens);
    }
    let mut rest: Vec<TokenWithSpan> = tokens
        .iter()
        .skip(1)
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .cloned()
        .collect();
    let mut i = 0;
    if matches!(rest.first().map(|t| &t.token), Some(Token::LParen)) {
        // `( name [value], ... )`
        match rest.iter().position(|t| t.token == Token::RParen) {
            Some(p) => i = p + 1,
            None => {
                return Err(AionError::new(
                    SqlState::SYNTAX_ERROR,
                    "syntax error at end of input",
                ))
            }
        }
    } else {
        while let Some(Token::Word(w)) = rest.get(i).map(|t| &t.token) {
            let option = w.quote_style.is_none()
                && ["full", "freeze", "verbose", "analyze", "analyse"]
                    .iter()
                    .any(|o| w.value.eq_ignore_ascii_case(o));
            if !option {
                break;
            }
            i += 1;
        }
    }
    let mut table: Vec<TokenWithSpan> = rest.split_off(i);
    // A column list (`VACUUM ANALYZE t (a, b)`) narrows what is analysed;
    // statistics here cover whole tables.
    if let Some(p) = table.iter().position(|t| t.token == Token::LParen) {
        table.truncate(p);
    }
    if table.iter().any(|t| t.token == Token::Comma) {
        return Err(AionError::feature_not_supported(
            "VACUUM of several tables in one statement is not supported; run one per table",
        ));
    }
    let mut out = vec![tokens[0].clone()];
    for t in table {
        out.push(TokenWithSpan::new(
            Token::Whitespace(sqlparser::tokenizer::Whitespace::Space),
            t.span,
        ));
        out.push(t);
    }
    Ok(out)
}

/// `CREATE USER name ...` is PostgreSQL's `CREATE ROLE name LOGIN ...`;
/// sqlparser reads CREATE USER as Snowflake's statement, so spell it as the
/// role statement (adding LOGIN unless LOGIN or NOLOGIN is given).
fn normalize_create_user(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    use sqlparser::keywords::Keyword;
    if !matches!(tokens.first().map(|t| &t.token),
        Some(Token::Word(w)) if w.keyword == Keyword::CREATE)
    {
        return tokens;
    }
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let is = |i: Option<&usize>, k: Keyword| matches!(i.map(|&i| &tokens[i].token), Some(Token::Word(w)) if w.keyword == k);
    if !(is(words.first(), Keyword::CREATE) && is(words.get(1), Keyword::USER)) {
        return tokens;
    }
    let has_login = words[2..].iter().any(|&i| {
        matches!(&tokens[i].token, Token::Word(w)
            if w.quote_style.is_none() && matches!(w.keyword, Keyword::LOGIN | Keyword::NOLOGIN))
    });
    tokens[words[1]].token = Token::make_keyword("ROLE");
    if !has_login {
        // Options come in any order: append it.
        if let Some(span) = tokens.last().map(|t| t.span) {
            tokens.push(TokenWithSpan::new(
                Token::Whitespace(sqlparser::tokenizer::Whitespace::Space),
                span,
            ));
            tokens.push(TokenWithSpan::new(Token::make_keyword("LOGIN"), span));
        }
    }
    tokens
}

/// `CONNECTION LIMIT -1` (no limit, the default) in role statements:
/// sqlparser takes an unsigned number there, so fold the sign into it.
fn normalize_connection_limit(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    use sqlparser::keywords::Keyword;
    let word = |t: &TokenWithSpan, k: Keyword| matches!(&t.token, Token::Word(w) if w.keyword == k);
    // Only role statements (CREATE/ALTER ROLE or USER) have the clause.
    if !tokens
        .first()
        .is_some_and(|t| word(t, Keyword::CREATE) || word(t, Keyword::ALTER))
        || !tokens.iter().any(|t| t.token == Token::Minus)
    {
        return tokens;
    }
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut it = tokens.into_iter().peekable();
    while let Some(t) = it.next() {
        let after_limit = t.token == Token::Minus && {
            let mut prev = out
                .iter()
                .rev()
                .filter(|p| !matches!(p.token, Token::Whitespace(_)));
            matches!((prev.next(), prev.next()), (Some(l), Some(c))
                if word(l, Keyword::LIMIT) && word(c, Keyword::CONNECTION))
        };
        if after_limit {
            if let Some(TokenWithSpan {
                token: Token::Number(n, long),
                span,
            }) = it.peek().cloned()
            {
                it.next();
                out.push(TokenWithSpan::new(
                    Token::Number(format!("-{n}"), long),
                    span,
                ));
                continue;
            }
        }
        out.push(t);
    }
    out
}

/// PostgreSQL's COPY boolean options take `on`/`off` (pgbench -i sends
/// `copy ... with (freeze on)`), sqlparser only `true`/`false`: spell them
/// the way sqlparser reads them. The meaning is unchanged.
fn normalize_copy_booleans(tokens: &mut [TokenWithSpan]) {
    use sqlparser::keywords::Keyword;
    let is_copy = matches!(tokens.first().map(|t| &t.token),
        Some(Token::Word(w)) if w.keyword == Keyword::COPY);
    if !is_copy {
        return;
    }
    // Rewrite `on`/`off` only as an option value: after FREEZE or HEADER
    // and before `,` or `)`, so an alias `header` before `ON` stays intact.
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    for w in words.windows(3) {
        let [prev, cur, next] = [w[0], w[1], w[2]];
        let option = matches!(&tokens[prev].token,
            Token::Word(p) if matches!(p.keyword, Keyword::FREEZE | Keyword::HEADER));
        let ends = matches!(tokens[next].token, Token::Comma | Token::RParen);
        let value = match &tokens[cur].token {
            Token::Word(v) if v.quote_style.is_none() && v.value.eq_ignore_ascii_case("on") => {
                "TRUE"
            }
            Token::Word(v) if v.quote_style.is_none() && v.value.eq_ignore_ascii_case("off") => {
                "FALSE"
            }
            _ => continue,
        };
        if option && ends {
            tokens[cur].token = Token::make_keyword(value);
        }
    }
}

/// Drops an AST; one nested that deep (a long `a + b + ...` chain) drops on
/// a fresh stack segment, since dropping recurses as deep as the tree.
fn drop_deep<T>(value: T, depth: usize) {
    if depth > 256 {
        stacker::grow(
            depth.saturating_mul(4096).clamp(1 << 20, 1 << 30),
            move || drop(value),
        );
    } else {
        drop(value);
    }
}

fn rebase(loc: Location, origin: Location) -> Location {
    if loc.line == origin.line {
        Location::new(1, loc.column + 1 - origin.column)
    } else {
        Location::new(loc.line + 1 - origin.line, loc.column)
    }
}

/// Walks the query string forward to sqlparser locations (1-based line and
/// character column), so a whole query converts in one pass.
struct Cursor<'a> {
    sql: &'a str,
    byte: usize,
    chars: usize,
    line: u64,
    column: u64,
}

impl<'a> Cursor<'a> {
    fn new(sql: &'a str) -> Self {
        Cursor {
            sql,
            byte: 0,
            chars: 0,
            line: 1,
            column: 1,
        }
    }

    /// Byte and character offsets of `loc`; stops at the end of the string.
    fn advance_to(&mut self, loc: Location) -> (usize, usize) {
        let rest = &self.sql[self.byte..];
        for (i, ch) in rest.char_indices() {
            if (self.line, self.column) >= (loc.line, loc.column) {
                self.byte += i;
                return (self.byte, self.chars);
            }
            self.chars += 1;
            if ch == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.byte = self.sql.len();
        (self.byte, self.chars)
    }
}

/// Context to turn a parser error into a PostgreSQL-style error.
struct Chunk<'a> {
    sql: &'a str,
    source: &'a str,
    start_char: usize,
    terminator: Option<Location>,
}

impl Chunk<'_> {
    fn parser_error(
        &self,
        parser: &SqlParser<'_>,
        e: &ParserError,
        dialect: &PostgreSqlDialect,
    ) -> AionError {
        let msg = match e {
            ParserError::RecursionLimitExceeded => {
                return AionError::new(SqlState::new(b"54001"), "stack depth limit exceeded")
                    .with_hint("The statement is nested too deeply.");
            }
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.as_str(),
        };
        if let Some(loc) = trailing_location(msg) {
            return self.error_at(loc, dialect);
        }
        if msg.ends_with("found: EOF") || msg.contains("EOF") {
            return self.end_of_statement();
        }
        // No location in the message: blame the token the parser stopped at.
        let current = parser.get_current_token();
        if current.span.start.line > 0 && current.token != Token::EOF {
            return self.error_at(current.span.start, dialect);
        }
        self.end_of_statement()
    }

    /// An error at the end of this statement: PostgreSQL blames the
    /// semicolon that ends it, or the end of the whole input.
    fn end_of_statement(&self) -> AionError {
        match self.terminator {
            Some(loc) => {
                let mut c = Cursor::new(self.sql);
                let (_, chars) = c.advance_to(loc);
                syntax_error("syntax error at or near \";\"", chars + 1)
            }
            None => syntax_error("syntax error at end of input", self.sql.chars().count() + 1),
        }
    }

    /// A syntax error at `loc` (relative to the statement source).
    fn error_at(&self, loc: Location, dialect: &PostgreSqlDialect) -> AionError {
        let mut c = Cursor::new(self.source);
        let (byte, chars) = c.advance_to(loc);
        if byte >= self.source.len() {
            return self.end_of_statement();
        }
        let rest = &self.source[byte..];
        let text = first_token_text(rest, dialect);
        syntax_error(
            format!("syntax error at or near \"{text}\""),
            self.start_char + chars + 1,
        )
    }
}

/// The text of the first token of `s`, as the user wrote it.
fn first_token_text<'s>(s: &'s str, dialect: &PostgreSqlDialect) -> &'s str {
    let mut buf = Vec::new();
    // An error later in `s` is irrelevant: only the first token matters.
    let _ = Tokenizer::new(dialect, s).tokenize_with_location_into_buf(&mut buf);
    match buf.first() {
        Some(t) => {
            let mut c = Cursor::new(s);
            let (end, _) = c.advance_to(t.span.end);
            &s[..end]
        }
        None => s.split_whitespace().next().unwrap_or(s),
    }
}

fn syntax_error(message: impl Into<String>, position: usize) -> AionError {
    AionError::new(SqlState::SYNTAX_ERROR, message)
        .with_position(u32::try_from(position).unwrap_or(u32::MAX))
}

/// Parses sqlparser's ` at Line: L, Column: C` suffix.
fn trailing_location(msg: &str) -> Option<Location> {
    let at = msg.rfind(" at Line: ")?;
    let rest = &msg[at + " at Line: ".len()..];
    let (line, col) = rest.split_once(", Column: ")?;
    let line: u64 = line.trim().parse().ok()?;
    let col: u64 = col.trim().parse().ok()?;
    (line > 0 && col > 0).then(|| Location::new(line, col))
}

/// A tokenizer error, worded as PostgreSQL's scanner words it and placed at
/// the start of the token that failed (just after the last good token).
fn tokenizer_error(sql: &str, good: &[TokenWithSpan], e: &TokenizerError) -> AionError {
    let start = good.last().map_or(Location::new(1, 1), |t| t.span.end);
    let mut c = Cursor::new(sql);
    let (byte, chars) = c.advance_to(start);
    let rest = &sql[byte..];
    let m = e.message.as_str();
    let what = if m.starts_with("Unterminated string literal")
        || m.starts_with("Unterminated encoded string literal")
    {
        "unterminated quoted string"
    } else if m.starts_with("Unterminated dollar-quoted") {
        "unterminated dollar-quoted string"
    } else if m.starts_with("Expected close delimiter") {
        "unterminated quoted identifier"
    } else if m.contains("multi-line comment") {
        "unterminated /* comment"
    } else {
        "syntax error"
    };
    let near = if what == "syntax error" {
        rest.split_whitespace().next().unwrap_or(rest)
    } else {
        // PostgreSQL quotes everything from the opening quote to the end.
        rest.trim_end()
    };
    if near.is_empty() {
        return syntax_error(format!("{what} at end of input"), sql.chars().count() + 1);
    }
    syntax_error(format!("{what} at or near \"{near}\""), chars + 1)
}

fn register(_host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new().parser("sql-parser", SqlParserPlugin))
}

aiondb_sdk::declare_plugin! {
    name: "sql-parser",
    version: env!("CARGO_PKG_VERSION"),
    description: "SQL parser (sqlparser, PostgreSQL dialect)",
    register: register,
}

#[cfg(test)]
mod tests;
