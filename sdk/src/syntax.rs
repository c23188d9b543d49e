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
    /// The statement's own text (one statement of a multi-statement string).
    pub source: RString,
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
}
