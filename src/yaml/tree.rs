//! A span tree over one document, built from `granit-parser` events.
//!
//! Every node knows the byte range of its content in the document text, which is what the
//! patcher ([`super::edit`]) needs to edit bytes in place. Comments are not nodes: they stay in
//! the bytes.

use granit_parser::{Event, Parser, ScalarStyle};

use super::path::Seg;

/// Error building a span tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What went wrong.
    pub message: String,
}

/// A node's shape.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar.
    Scalar {
        /// Value after escape processing.
        value: String,
        /// Source notation.
        style: ScalarStyle,
    },
    /// A mapping; entries in source order.
    Map {
        /// Key/value pairs.
        entries: Vec<(Node, Node)>,
        /// `{...}` notation.
        flow: bool,
    },
    /// A sequence.
    Seq {
        /// Items.
        items: Vec<Node>,
        /// `[...]` notation.
        flow: bool,
    },
    /// An alias (`*name`): read-only for the patcher.
    Alias,
}

/// A node with its byte range in the document text.
#[derive(Debug, Clone)]
pub struct Node {
    /// Shape and children.
    pub kind: NodeKind,
    /// Byte offset where the node's content starts (first key for a block mapping; the first
    /// item's content for a block sequence; the bracket for flow collections).
    pub start: usize,
    /// Byte offset just after the node's content (for block scalars: the start of the line
    /// after their last content line).
    pub end: usize,
    /// 0-based column of `start`.
    pub col: usize,
    /// The node carries an anchor or a tag: patch it only by replacing a scalar value.
    pub decorated: bool,
}

impl Node {
    /// Child lookup by one path segment.
    pub fn child(&self, seg: &Seg) -> Option<&Node> {
        match (&self.kind, seg) {
            (NodeKind::Map { entries, .. }, Seg::Key(k)) => entries
                .iter()
                .rev() // duplicate keys: the last one wins, as in Kubernetes
                .find(|(key, _)| key.scalar() == Some(k.as_str()))
                .map(|(_, v)| v),
            (NodeKind::Seq { items, .. }, Seg::Index(i)) => items.get(*i),
            _ => None,
        }
    }

    /// The scalar value, if this is a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Follows a path.
    pub fn get(&self, path: &[Seg]) -> Option<&Node> {
        let mut cur = self;
        for s in path {
            cur = cur.child(s)?;
        }
        Some(cur)
    }

    /// True for block (non-flow) collections.
    pub fn is_block_collection(&self) -> bool {
        matches!(
            self.kind,
            NodeKind::Map { flow: false, .. } | NodeKind::Seq { flow: false, .. }
        )
    }
}

enum Frame {
    Map {
        start: usize,
        col: usize,
        flow: bool,
        decorated: bool,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
    Seq {
        start: usize,
        col: usize,
        flow: bool,
        decorated: bool,
        items: Vec<Node>,
    },
}

fn err_at(text: &str, off: usize, message: impl Into<String>) -> TreeError {
    let before = &text[..off.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TreeError {
        line,
        col,
        message: message.into(),
    }
}

fn col_of(text: &str, off: usize) -> usize {
    let before = &text.as_bytes()[..off.min(text.len())];
    match before.iter().rposition(|&b| b == b'\n') {
        Some(p) => off - p - 1,
        None => off,
    }
}

/// Builds the span tree of a single-document text. Returns `Ok(None)` for a document with no
/// content (only comments or white space).
pub fn build(text: &str) -> Result<Option<Node>, TreeError> {
    let parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut docs = 0usize;
    for ev in parser {
        let (ev, span) = match ev {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                return Err(TreeError {
                    line: m.line(),
                    col: m.col() + 1,
                    message: e.info().to_string(),
                });
            }
        };
        let s = span.start.byte_offset().unwrap_or(0);
        let e = span.end.byte_offset().unwrap_or(s);
        let node = match ev {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => continue,
            Event::DocumentStart(..) => {
                docs += 1;
                if docs > 1 {
                    return Err(err_at(
                        text,
                        s,
                        "more than one YAML document in one segment",
                    ));
                }
                continue;
            }
            // Comments, anchor metadata and any future presentation events carry no data.
            Event::Anchor(..) => continue,
            Event::Alias(_) | Event::UnresolvedAlias(_) => Node {
                kind: NodeKind::Alias,
                start: s,
                end: e,
                col: col_of(text, s),
                decorated: true,
            },
            Event::Scalar(value, style, anchor, tag) => {
                // Block scalars' spans start at their content: move back to the indicator.
                let s = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        let b = text.as_bytes();
                        let mut p = s.min(b.len());
                        while p > 0 && matches!(b[p - 1], b' ' | b'\t' | b'\n' | b'\r') {
                            p -= 1;
                        }
                        // skip a trailing comment on the indicator line is not needed: the
                        // indicator line ends with `|`/`>` plus optional modifiers.
                        while p > 0 && matches!(b[p - 1], b'-' | b'+' | b'0'..=b'9') {
                            p -= 1;
                        }
                        if p > 0 && matches!(b[p - 1], b'|' | b'>') {
                            p - 1
                        } else {
                            s
                        }
                    }
                    _ => s,
                };
                let end = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        match text.as_bytes()[s..e.min(text.len())]
                            .iter()
                            .rposition(|&b| b == b'\n')
                        {
                            Some(p) => s + p + 1,
                            None => e,
                        }
                    }
                    _ => e,
                };
                Node {
                    kind: NodeKind::Scalar {
                        value: value.into_owned(),
                        style,
                    },
                    start: s,
                    end,
                    col: col_of(text, s),
                    decorated: anchor != 0 || tag.is_some(),
                }
            }
            Event::MappingStart(style, anchor, tag) => {
                stack.push(Frame::Map {
                    start: s,
                    col: col_of(text, s),
                    flow: style == granit_parser::StructureStyle::Flow,
                    decorated: anchor != 0 || tag.is_some(),
                    entries: Vec::new(),
                    pending_key: None,
                });
                continue;
            }
            Event::SequenceStart(style, anchor, tag) => {
                stack.push(Frame::Seq {
                    start: s,
                    col: col_of(text, s),
                    flow: style == granit_parser::StructureStyle::Flow,
                    decorated: anchor != 0 || tag.is_some(),
                    items: Vec::new(),
                });
                continue;
            }
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    start,
                    col,
                    flow,
                    decorated,
                    entries,
                    pending_key,
                }) => {
                    if pending_key.is_some() {
                        return Err(err_at(text, s, "mapping key without value"));
                    }
                    let end = if flow {
                        e
                    } else {
                        entries.last().map_or(start, |(_, v)| v.end)
                    };
                    Node {
                        kind: NodeKind::Map { entries, flow },
                        start,
                        end,
                        col,
                        decorated,
                    }
                }
                _ => return Err(err_at(text, s, "unbalanced mapping end")),
            },
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    start,
                    col,
                    flow,
                    decorated,
                    items,
                }) => {
                    let end = if flow {
                        e
                    } else {
                        items.last().map_or(start, |v| v.end)
                    };
                    // A block sequence starts at its first dash, not at the first item.
                    let (start, col) = if flow {
                        (start, col)
                    } else {
                        let first = items.first().map_or(start, |i| i.start);
                        let b = text.as_bytes();
                        let mut p = first;
                        while p > 0 && matches!(b[p - 1], b' ' | b'\t' | b'\n' | b'\r') {
                            p -= 1;
                        }
                        if p > 0 && b[p - 1] == b'-' {
                            (p - 1, col_of(text, p - 1))
                        } else {
                            (start, col)
                        }
                    };
                    Node {
                        kind: NodeKind::Seq { items, flow },
                        start,
                        end,
                        col,
                        decorated,
                    }
                }
                _ => return Err(err_at(text, s, "unbalanced sequence end")),
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => {
                if root.is_some() {
                    return Err(err_at(text, s, "more than one root node"));
                }
                root = Some(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    if !stack.is_empty() {
        return Err(err_at(text, text.len(), "unterminated collection"));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        let t = "a: 1\nb:\n  c: \"x\"\n  d: [1, 2]\ne:\n- |\n  lit\n\n- z\n";
        let n = build(t).unwrap().unwrap();
        let c = n
            .get(&[Seg::Key("b".into()), Seg::Key("c".into())])
            .unwrap();
        assert_eq!(&t[c.start..c.end], "\"x\"");
        let d = n
            .get(&[Seg::Key("b".into()), Seg::Key("d".into())])
            .unwrap();
        assert_eq!(&t[d.start..d.end], "[1, 2]");
        let b = n.child(&Seg::Key("b".into())).unwrap();
        assert_eq!(b.col, 2);
        assert_eq!(&t[b.start..b.end], "c: \"x\"\n  d: [1, 2]");
        let lit = n.get(&[Seg::Key("e".into()), Seg::Index(0)]).unwrap();
        assert_eq!(&t[lit.start..lit.end], "|\n  lit\n\n");
    }

    #[test]
    fn empty_doc() {
        assert!(build("# only a comment\n").unwrap().is_none());
        assert!(build("").unwrap().is_none());
    }
}
