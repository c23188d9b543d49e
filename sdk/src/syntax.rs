//! The parser's output: one syntax tree per statement, stored as an arena so
//! it crosses the plugin boundary once, without recursion or per-node boxes.

use abi_stable::{
    std_types::{RString, RVec},
    StableAbi,
};

use crate::value::Value;

/// Kind of a syntax node. A number, not a Rust enum, so the parser plugin
/// can add kinds without an ABI break; the constants the SDK names are the
/// shared vocabulary between parser and planner.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyntaxKind(pub u16);

/// One node: a kind, an optional payload (identifier text, literal value,
/// operator symbol) and a contiguous run of children in [`SyntaxTree::edges`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct SyntaxNode {
    pub kind: SyntaxKind,
    pub value: Value,
    /// Byte offset of the node's text in the statement.
    pub span_start: u32,
    pub span_len: u32,
    pub first_edge: u32,
    pub child_count: u32,
}

/// A parsed statement.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct SyntaxTree {
    /// Names the node vocabulary and its version, e.g.
    /// [`generic::SCHEMA_SQLPARSER`]. A consumer refuses a schema it does
    /// not know instead of misreading the tree.
    pub schema: RString,
    /// The statement's own text (one statement of a multi-statement string).
    pub source: RString,
    /// Byte offset of `source` in the whole query string.
    pub source_offset: u32,
    /// Character offset of `source` in the whole query string, so error
    /// positions (counted in characters, as PostgreSQL does) can refer to
    /// the whole string without having it.
    pub source_char_offset: u32,
    pub nodes: RVec<SyntaxNode>,
    /// Child node indices; node `n`'s children are
    /// `edges[first_edge .. first_edge + child_count]`.
    pub edges: RVec<u32>,
    /// Index of the root node.
    pub root: u32,
}

impl SyntaxTree {
    pub fn node(&self, index: u32) -> Option<&SyntaxNode> {
        self.nodes.get(index as usize)
    }

    /// Children of `index`, empty for a bad index.
    pub fn children(&self, index: u32) -> &[u32] {
        match self.node(index) {
            Some(n) => {
                let start = n.first_edge as usize;
                self.edges
                    .get(start..start + n.child_count as usize)
                    .unwrap_or(&[])
            }
            None => &[],
        }
    }

    /// PostgreSQL error position (1-based character offset in the whole
    /// query string) of a 1-based `line`/`column` (in characters) within
    /// `source`, as sqlparser's spans count them. `None` when out of range.
    pub fn position_at(&self, line: u64, column: u64) -> Option<u32> {
        if line == 0 || column == 0 {
            return None;
        }
        let mut current_line = 1u64;
        let mut chars_before = 0u64;
        let mut rest = self.source.as_str();
        while current_line < line {
            let nl = rest.find('\n')?;
            chars_before += rest[..=nl].chars().count() as u64;
            rest = &rest[nl + 1..];
            current_line += 1;
        }
        let line_len = rest.split('\n').next().unwrap_or("").chars().count() as u64;
        // Column `line_len + 1` is the end of the line (end of input).
        if column > line_len + 1 {
            return None;
        }
        let pos = self.source_char_offset as u64 + chars_before + column;
        u32::try_from(pos).ok()
    }

    /// Adds a node whose children are `children` (already added) and returns
    /// its index.
    pub fn push(
        &mut self,
        kind: SyntaxKind,
        value: Value,
        span: (u32, u32),
        children: &[u32],
    ) -> u32 {
        let first_edge = self.edges.len() as u32;
        self.edges.extend_from_slice(children);
        self.nodes.push(SyntaxNode {
            kind,
            value,
            span_start: span.0,
            span_len: span.1,
            first_edge,
            child_count: children.len() as u32,
        });
        (self.nodes.len() - 1) as u32
    }
}

/// A generic, self-describing encoding of a serde data model (as
/// `serde_json::Value` represents it) in a [`SyntaxTree`].
///
/// The parser plugin ships sqlparser's AST this way: no Rust enum of a
/// third-party crate crosses the ABI, yet the planner gets the exact AST back
/// with serde. The tree's [`SyntaxTree::schema`] names which data model the
/// nodes follow (e.g. [`SCHEMA_SQLPARSER`]).
///
/// Node kinds and their payload ([`SyntaxNode::value`]):
///
/// | kind | payload | children |
/// |---|---|---|
/// | [`NULL`] | `Value::Null` (unit, `None`) | none |
/// | [`BOOL`] | `Value::Bool` | none |
/// | [`INT`] | `Value::Int8` (any integer that fits `i64`) | none |
/// | [`UINT`] | `Value::Text`, decimal digits of a `u64 > i64::MAX` | none |
/// | [`FLOAT`] | `Value::Float8` | none |
/// | [`STRING`] | `Value::Text` | none |
/// | [`SEQ`] | `Value::Null` | the elements in order |
/// | [`MAP`] | `Value::Null` | key, value, key, value, ...; keys are `STRING` nodes |
///
/// Enum variants follow serde_json's externally tagged form: a unit variant
/// is a `STRING` holding its name, any other variant a `MAP` with one key
/// (the variant name) whose value is the variant's content. Spans of
/// generic nodes are `(0, 0)` except the root, which spans the statement;
/// positions live inside the data model itself (sqlparser's `Span`s, lines
/// and columns relative to [`SyntaxTree::source`], see
/// [`SyntaxTree::position_at`]).
pub mod generic {
    use super::SyntaxKind;

    /// sqlparser 0.63's `ast::Statement` serde data model.
    pub const SCHEMA_SQLPARSER: &str = "sqlparser-ast/0.63";

    pub const NULL: SyntaxKind = SyntaxKind(1);
    pub const BOOL: SyntaxKind = SyntaxKind(2);
    pub const INT: SyntaxKind = SyntaxKind(3);
    pub const UINT: SyntaxKind = SyntaxKind(4);
    pub const FLOAT: SyntaxKind = SyntaxKind(5);
    pub const STRING: SyntaxKind = SyntaxKind(6);
    pub const SEQ: SyntaxKind = SyntaxKind(7);
    pub const MAP: SyntaxKind = SyntaxKind(8);

    #[cfg(feature = "json")]
    pub use json::{decode_json, encode_json};

    #[cfg(feature = "json")]
    mod json {
        use abi_stable::std_types::RString;
        use serde_json::{Map, Number, Value as Json};

        use super::*;
        use crate::error::{AionError, DbResult};
        use crate::syntax::SyntaxTree;
        use crate::value::Value;

        /// Encodes `value` as a generic tree over `source` (the statement
        /// text). `source_offset`/`source_char_offset` are left at 0 for the
        /// caller to set. Iterative, so depth is bounded only by memory.
        pub fn encode_json(value: &Json, source: &str, schema: &str) -> SyntaxTree {
            enum Frame<'a> {
                Seq(std::slice::Iter<'a, Json>, usize),
                Map(serde_json::map::Iter<'a>, usize),
            }
            let mut tree = SyntaxTree {
                schema: RString::from(schema),
                source: RString::from(source),
                ..SyntaxTree::default()
            };
            // Finished child indices of every open container, one run per
            // frame starting at the frame's mark.
            let mut pending: Vec<u32> = Vec::new();
            let mut stack: Vec<Frame<'_>> = Vec::new();
            let mut next: Option<&Json> = Some(value);
            loop {
                if let Some(v) = next.take() {
                    match v {
                        Json::Array(items) => stack.push(Frame::Seq(items.iter(), pending.len())),
                        Json::Object(map) => stack.push(Frame::Map(map.iter(), pending.len())),
                        scalar => {
                            let (kind, payload) = scalar_node(scalar);
                            pending.push(tree.push(kind, payload, (0, 0), &[]));
                        }
                    }
                }
                let Some(top) = stack.last_mut() else { break };
                match top {
                    Frame::Seq(it, mark) => match it.next() {
                        Some(item) => next = Some(item),
                        None => {
                            let mark = *mark;
                            let idx = tree.push(SEQ, Value::Null, (0, 0), &pending[mark..]);
                            pending.truncate(mark);
                            pending.push(idx);
                            stack.pop();
                        }
                    },
                    Frame::Map(it, mark) => match it.next() {
                        Some((k, v)) => {
                            let key = tree.push(STRING, Value::text(k.as_str()), (0, 0), &[]);
                            pending.push(key);
                            next = Some(v);
                        }
                        None => {
                            let mark = *mark;
                            let idx = tree.push(MAP, Value::Null, (0, 0), &pending[mark..]);
                            pending.truncate(mark);
                            pending.push(idx);
                            stack.pop();
                        }
                    },
                }
            }
            tree.root = pending.pop().unwrap_or(0);
            let len = u32::try_from(source.len()).unwrap_or(u32::MAX);
            if let Some(root) = tree.nodes.get_mut(tree.root as usize) {
                root.span_len = len;
            }
            tree
        }

        fn scalar_node(v: &Json) -> (SyntaxKind, Value) {
            match v {
                Json::Bool(b) => (BOOL, Value::Bool(*b)),
                Json::Number(n) => {
                    if let Some(i) = n.as_i64() {
                        (INT, Value::Int8(i))
                    } else if let Some(u) = n.as_u64() {
                        (UINT, Value::text(u.to_string()))
                    } else {
                        (FLOAT, Value::Float8(n.as_f64().unwrap_or(f64::NAN)))
                    }
                }
                Json::String(s) => (STRING, Value::text(s.as_str())),
                // Containers never reach here; Null and anything else is NULL.
                _ => (NULL, Value::Null),
            }
        }

        fn malformed(what: impl std::fmt::Display) -> AionError {
            AionError::internal(format!("malformed syntax tree: {what}"))
        }

        /// Decodes a generic tree back into the serde_json value it encodes.
        /// Iterative; a malformed tree (bad index, wrong payload, a node
        /// reached twice, an unknown kind) is an XX000 error, never a panic.
        pub fn decode_json(tree: &SyntaxTree) -> DbResult<Json> {
            enum Acc {
                Seq(Vec<Json>),
                Map(Map<String, Json>, Option<String>),
            }
            struct Frame<'t> {
                kids: &'t [u32],
                pos: usize,
                acc: Acc,
            }
            let node_count = tree.nodes.len();
            let mut visited = 0usize;
            let mut stack: Vec<Frame<'_>> = Vec::new();
            let mut next = Some(tree.root);
            loop {
                let mut done: Option<Json> = None;
                if let Some(idx) = next.take() {
                    visited += 1;
                    if visited > node_count {
                        return Err(malformed("a node is reachable twice"));
                    }
                    let node = tree
                        .node(idx)
                        .ok_or_else(|| malformed(format!("node {idx} out of range")))?;
                    let kids = node_children(tree, idx)?;
                    match node.kind {
                        SEQ => stack.push(Frame {
                            kids,
                            pos: 0,
                            acc: Acc::Seq(Vec::with_capacity(kids.len())),
                        }),
                        MAP => {
                            if kids.len() % 2 != 0 {
                                return Err(malformed(format!(
                                    "map node {idx} has an odd child count"
                                )));
                            }
                            stack.push(Frame {
                                kids,
                                pos: 0,
                                acc: Acc::Map(Map::new(), None),
                            })
                        }
                        kind => {
                            if !kids.is_empty() {
                                return Err(malformed(format!("scalar node {idx} has children")));
                            }
                            done = Some(scalar_json(kind, &node.value, idx)?);
                        }
                    }
                }
                if let Some(v) = done {
                    match stack.last_mut() {
                        None => return Ok(v),
                        Some(f) => match &mut f.acc {
                            Acc::Seq(items) => items.push(v),
                            Acc::Map(map, key) => {
                                let k = key
                                    .take()
                                    .ok_or_else(|| malformed("map value without key"))?;
                                map.insert(k, v);
                            }
                        },
                    }
                    continue;
                }
                let Some(top) = stack.last_mut() else {
                    return Err(malformed("empty tree"));
                };
                if top.pos < top.kids.len() {
                    let child = top.kids[top.pos];
                    top.pos += 1;
                    if let Acc::Map(_, key @ None) = &mut top.acc {
                        // Even positions of a map are keys: read them in place.
                        visited += 1;
                        let node = tree
                            .node(child)
                            .ok_or_else(|| malformed(format!("node {child} out of range")))?;
                        match (&node.value, node.kind, node.child_count) {
                            (Value::Text(s), STRING, 0) => *key = Some(s.to_string()),
                            _ => return Err(malformed(format!("map key {child} is not a string"))),
                        }
                    } else {
                        next = Some(child);
                    }
                    continue;
                }
                let Some(frame) = stack.pop() else {
                    return Err(malformed("empty tree"));
                };
                let v = match frame.acc {
                    Acc::Seq(items) => Json::Array(items),
                    Acc::Map(map, _) => Json::Object(map),
                };
                match stack.last_mut() {
                    None => return Ok(v),
                    Some(f) => match &mut f.acc {
                        Acc::Seq(items) => items.push(v),
                        Acc::Map(map, key) => {
                            let k = key
                                .take()
                                .ok_or_else(|| malformed("map value without key"))?;
                            map.insert(k, v);
                        }
                    },
                }
            }
        }

        fn node_children(tree: &SyntaxTree, idx: u32) -> DbResult<&[u32]> {
            let n = tree
                .node(idx)
                .ok_or_else(|| malformed(format!("node {idx} out of range")))?;
            let start = n.first_edge as usize;
            let end = start
                .checked_add(n.child_count as usize)
                .ok_or_else(|| malformed(format!("node {idx} has bad edges")))?;
            tree.edges
                .get(start..end)
                .ok_or_else(|| malformed(format!("node {idx} has edges out of range")))
        }

        fn scalar_json(kind: SyntaxKind, value: &Value, idx: u32) -> DbResult<Json> {
            Ok(match (kind, value) {
                (NULL, _) => Json::Null,
                (BOOL, Value::Bool(b)) => Json::Bool(*b),
                (INT, Value::Int8(i)) => Json::Number(Number::from(*i)),
                (UINT, Value::Text(s)) => {
                    Json::Number(Number::from(s.parse::<u64>().map_err(|_| {
                        malformed(format!("node {idx}: bad unsigned integer"))
                    })?))
                }
                // serde_json has no NaN or infinity; it writes them as null.
                (FLOAT, Value::Float8(f)) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
                (STRING, Value::Text(s)) => Json::String(s.to_string()),
                (kind, _) => {
                    return Err(malformed(format!(
                        "node {idx}: kind {} with payload {value:?}",
                        kind.0
                    )))
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_tree() {
        let mut t = SyntaxTree::default();
        let a = t.push(SyntaxKind(1), Value::Int4(1), (0, 1), &[]);
        let b = t.push(SyntaxKind(1), Value::Int4(2), (4, 1), &[]);
        let plus = t.push(SyntaxKind(2), Value::text("+"), (0, 5), &[a, b]);
        t.root = plus;
        assert_eq!(t.children(plus), &[a, b]);
        assert!(t.children(99).is_empty());
    }

    #[test]
    fn position_at_counts_characters() {
        let t = SyntaxTree {
            source: RString::from("select 'é',\n  x from"),
            source_char_offset: 10,
            ..SyntaxTree::default()
        };
        assert_eq!(t.position_at(1, 1), Some(11));
        assert_eq!(t.position_at(2, 3), Some(10 + 12 + 3));
        // One past the last character is the end of input.
        assert_eq!(t.position_at(2, 9), Some(10 + 12 + 9));
        assert_eq!(t.position_at(2, 10), None);
        assert_eq!(t.position_at(3, 1), None);
        assert_eq!(t.position_at(0, 1), None);
    }

    #[cfg(feature = "json")]
    mod json {
        use super::super::generic::*;
        use super::super::*;
        use serde_json::json;

        fn round_trip(v: serde_json::Value) {
            let t = encode_json(&v, "src", SCHEMA_SQLPARSER);
            assert_eq!(t.schema.as_str(), SCHEMA_SQLPARSER);
            assert_eq!(decode_json(&t).unwrap(), v);
        }

        #[test]
        fn scalars_and_containers_round_trip() {
            round_trip(json!(null));
            round_trip(json!(true));
            round_trip(json!(-5));
            round_trip(json!(u64::MAX));
            round_trip(json!(i64::MIN));
            round_trip(json!(1.5));
            round_trip(json!("héllo"));
            round_trip(json!([]));
            round_trip(json!({}));
            round_trip(json!({"Query": {"body": [1, "a", null, {"x": [true, {}]}], "z": []}}));
        }

        #[test]
        fn deep_nesting_does_not_recurse() {
            let mut v = json!(1);
            for _ in 0..20_000 {
                v = serde_json::Value::Array(vec![v]);
            }
            let t = encode_json(&v, "", "s");
            let back = decode_json(&t).unwrap();
            // Drop both iteratively-built values without deep recursion
            // in the assertion itself: compare node counts.
            let mut depth = 0;
            let mut cur = &back;
            while let serde_json::Value::Array(a) = cur {
                depth += 1;
                cur = &a[0];
            }
            assert_eq!(depth, 20_000);
            std::mem::forget(v);
            std::mem::forget(back);
        }

        #[test]
        fn malformed_trees_are_errors() {
            let mut t = encode_json(&json!({"a": [1, 2]}), "", "s");
            t.root = 99;
            assert!(decode_json(&t).is_err());

            // A cycle: the seq lists itself.
            let mut c = SyntaxTree::default();
            c.edges.push(0);
            c.nodes.push(SyntaxNode {
                kind: SEQ,
                value: Value::Null,
                span_start: 0,
                span_len: 0,
                first_edge: 0,
                child_count: 1,
            });
            assert!(decode_json(&c).is_err());

            // Map key that is not a string.
            let mut m = SyntaxTree::default();
            let k = m.push(INT, Value::Int8(1), (0, 0), &[]);
            let v = m.push(NULL, Value::Null, (0, 0), &[]);
            m.root = m.push(MAP, Value::Null, (0, 0), &[k, v]);
            assert!(decode_json(&m).is_err());

            // Wrong payload, unknown kind, edges out of range.
            let mut w = SyntaxTree::default();
            w.root = w.push(INT, Value::text("x"), (0, 0), &[]);
            assert!(decode_json(&w).is_err());
            let mut u = SyntaxTree::default();
            u.root = u.push(SyntaxKind(999), Value::Null, (0, 0), &[]);
            assert!(decode_json(&u).is_err());
            let mut e = SyntaxTree::default();
            e.root = e.push(SEQ, Value::Null, (0, 0), &[]);
            e.nodes[0].child_count = 5;
            assert!(decode_json(&e).is_err());
            assert!(decode_json(&SyntaxTree::default()).is_err());
        }
    }
}
