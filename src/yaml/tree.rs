//! A span tree over one document, built by the line reader (`yaml::lines`) for the
//! block-structured documents it reads and from `granit-parser` events for everything else.
//!
//! Every node knows the byte range of its content in the document text, which is what the
//! patcher ([`super::edit`]) needs to edit bytes in place. Comments are not nodes: they stay in
//! the bytes. Both builders give the same tree (the tests compare them on every document the
//! line reader takes).

use granit_parser::{Event, Parser, ScalarStyle};

use super::fast::Ev;
use super::lines::{self, Span};
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
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar.
    Scalar {
        /// Value after escape processing, kept only where it is not the node's source text
        /// (without its quotes): escapes, folded lines, block scalars, `~` for an empty plain
        /// scalar. Most scalars are their text, so a tree costs a few bytes per input byte
        /// (read it with [`Node::scalar`]).
        value: Option<Box<str>>,
        /// Source notation.
        style: ScalarStyle,
        /// The scalar carries an anchor or a tag.
        decorated: bool,
    },
    /// A mapping; entries in source order.
    Map {
        /// Key/value pairs.
        entries: Box<[(Node, Node)]>,
        /// `{...}` notation.
        flow: bool,
        /// The mapping carries an anchor or a tag.
        decorated: bool,
    },
    /// A sequence.
    Seq {
        /// Items.
        items: Box<[Node]>,
        /// `[...]` notation.
        flow: bool,
        /// The sequence carries an anchor or a tag.
        decorated: bool,
    },
    /// An alias (`*name`): read-only for the patcher.
    Alias,
}

/// A node with its byte range in the document text (32 bytes: offsets are `u32`, texts over
/// 4 GiB get no tree; the column is read from the text).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Shape and children.
    pub kind: NodeKind,
    /// See [`Node::start`].
    start: u32,
    /// See [`Node::end`].
    end: u32,
}

/// The value a scalar of `style` spanning `start..end` of `text` has when it is its source
/// text: the span without its quotes.
fn source_value(text: &str, start: usize, end: usize, style: ScalarStyle) -> Option<&str> {
    match style {
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
            text.get(start + 1..end.checked_sub(1)?)
        }
        _ => text.get(start..end),
    }
}

/// A scalar node of `text` at `start..end` whose value is `value`.
fn scalar(
    text: &str,
    value: &str,
    style: ScalarStyle,
    start: usize,
    end: usize,
    decorated: bool,
) -> Node {
    let value = (source_value(text, start, end, style) != Some(value)).then(|| value.into());
    Node::new(
        NodeKind::Scalar {
            value,
            style,
            decorated,
        },
        start,
        end,
    )
}

impl Node {
    /// A node spanning `start..end` (offsets fit in `u32`: [`build`] takes no larger text).
    fn new(kind: NodeKind, start: usize, end: usize) -> Node {
        Node {
            kind,
            start: start as u32,
            end: end as u32,
        }
    }

    /// Byte offset where the node's content starts (first key for a block mapping; the first
    /// item's dash for a block sequence; the bracket for flow collections).
    pub fn start(&self) -> usize {
        self.start as usize
    }

    /// Byte offset just after the node's content (for block scalars: the start of the line
    /// after their last content line).
    pub fn end(&self) -> usize {
        self.end as usize
    }

    /// 0-based column (in bytes) of [`Node::start`] in `text`, the tree's document.
    pub fn col(&self, text: &str) -> usize {
        col_of(text, self.start())
    }

    /// The node carries an anchor or a tag (or is an alias): patch it only by replacing a
    /// scalar value.
    pub fn decorated(&self) -> bool {
        match self.kind {
            NodeKind::Scalar { decorated, .. }
            | NodeKind::Map { decorated, .. }
            | NodeKind::Seq { decorated, .. } => decorated,
            NodeKind::Alias => true,
        }
    }

    /// Child lookup by one path segment (`text`: the tree's document).
    pub fn child(&self, text: &str, seg: &Seg) -> Option<&Node> {
        match (&self.kind, seg) {
            (NodeKind::Map { entries, .. }, Seg::Key(k)) => entries
                .iter()
                .rev() // duplicate keys: the last one wins, as in Kubernetes
                .find(|(key, _)| key.scalar(text) == Some(&**k))
                .map(|(_, v)| v),
            (NodeKind::Seq { items, .. }, Seg::Index(i)) => items.get(*i),
            _ => None,
        }
    }

    /// The scalar value, if this is a scalar (`text`: the tree's document).
    pub fn scalar<'a>(&'a self, text: &'a str) -> Option<&'a str> {
        match &self.kind {
            NodeKind::Scalar {
                value: Some(value), ..
            } => Some(value),
            NodeKind::Scalar {
                value: None, style, ..
            } => source_value(text, self.start(), self.end(), *style),
            _ => None,
        }
    }

    /// Follows a path (`text`: the tree's document).
    pub fn get(&self, text: &str, path: &[Seg]) -> Option<&Node> {
        let mut cur = self;
        for s in path {
            cur = cur.child(text, s)?;
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
        flow: bool,
        decorated: bool,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
    Seq {
        start: usize,
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

/// Largest text a tree is built for: node offsets are `u32`.
const MAX_TEXT: usize = u32::MAX as usize;

/// Builds the span tree of a single-document text. Returns `Ok(None)` for a document with no
/// content (only comments or white space).
///
/// Debug builds compare the tree with serde-saphyr's reading of `text` (see
/// `src/yaml/agree.rs`).
pub fn build(text: &str) -> Result<Option<Node>, TreeError> {
    let root = match from_lines(text) {
        Some(root) => root,
        None => from_events(text)?,
    };
    super::agree::span_tree(text, root.as_ref());
    Ok(root)
}

/// The line reader's tree alone: `None` when it declines the document (tests and the fuzz
/// target compare it with [`build_from_events`]).
pub fn build_from_lines(text: &str) -> Option<Option<Node>> {
    from_lines(text)
}

/// The granit-parser tree alone (see [`build_from_lines`]).
pub fn build_from_events(text: &str) -> Result<Option<Node>, TreeError> {
    from_events(text)
}

/// Deepest nesting the line reader's tree takes (as for its typed view); deeper documents go
/// to the event-based builder, which does not recurse.
const MAX_DEPTH: usize = 100;

/// The span tree from the line reader, or `None` when it declines the document.
fn from_lines(text: &str) -> Option<Option<Node>> {
    if text.len() > MAX_TEXT {
        return None;
    }
    let sink = lines::run(
        text,
        LineTree {
            text,
            stack: Vec::new(),
            root: None,
        },
    )?;
    sink.stack.is_empty().then_some(sink.root)
}

/// Builds the span tree from the line reader's events.
struct LineTree<'t> {
    text: &'t str,
    stack: Vec<Frame>,
    root: Option<Node>,
}

impl<'a> lines::Sink<'a> for LineTree<'_> {
    fn node(&mut self, ev: Ev<'a>, at: Span) -> Option<()> {
        let text = self.text;
        let node = match ev {
            Ev::MapStart | Ev::SeqStart => {
                if self.stack.len() >= MAX_DEPTH {
                    return None;
                }
                let flow = matches!(text.as_bytes()[at.start], b'{' | b'[');
                self.stack.push(if matches!(ev, Ev::MapStart) {
                    Frame::Map {
                        start: at.start,
                        flow,
                        decorated: false,
                        entries: Vec::new(),
                        pending_key: None,
                    }
                } else {
                    Frame::Seq {
                        start: at.start,
                        flow,
                        decorated: false,
                        items: Vec::new(),
                    }
                });
                return Some(());
            }
            Ev::MapEnd => match self.stack.pop()? {
                Frame::Map {
                    start,
                    flow,
                    entries,
                    pending_key: None,
                    ..
                } => {
                    let end = if flow {
                        at.end
                    } else {
                        last_end(start, &entries)
                    };
                    Node::new(
                        NodeKind::Map {
                            entries: entries.into_boxed_slice(),
                            flow,
                            decorated: false,
                        },
                        start,
                        end,
                    )
                }
                _ => return None,
            },
            Ev::SeqEnd => match self.stack.pop()? {
                // A block sequence whose first item is not reached from its `-` through
                // white space alone (a comment between them): the event builder places it
                // elsewhere, which this tree does not mimic.
                Frame::Seq {
                    start,
                    flow: false,
                    items,
                    ..
                } if items.first().is_some_and(|i| {
                    !text.as_bytes()[start + 1..i.start()]
                        .iter()
                        .all(|b| matches!(b, b' ' | b'\n' | b'\r'))
                }) =>
                {
                    return None
                }
                Frame::Seq {
                    start, flow, items, ..
                } => {
                    let end = if flow {
                        at.end
                    } else {
                        items.last().map_or(start, Node::end)
                    };
                    Node::new(
                        NodeKind::Seq {
                            items: items.into_boxed_slice(),
                            flow,
                            decorated: false,
                        },
                        start,
                        end,
                    )
                }
                _ => return None,
            },
            Ev::Scalar(..)
                if matches!(at.style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && text[at.start..]
                        .split('\n')
                        .next()
                        .is_some_and(|header| header.contains('#')) =>
            {
                // A block scalar with a comment after its indicator: the event builder
                // places it at its first text line, which this tree does not mimic.
                return None;
            }
            Ev::Scalar(value, _) => scalar(
                text,
                // An empty value reads as `~`, as granit-parser reports it.
                if value.is_empty() && at.style == ScalarStyle::Plain {
                    "~"
                } else {
                    &value
                },
                at.style,
                at.start,
                at.end,
                false,
            ),
        };
        attach(&mut self.stack, &mut self.root, node).then_some(())
    }
}

/// Where a block mapping starting at `start` ends: after its last value.
fn last_end(start: usize, entries: &[(Node, Node)]) -> usize {
    entries.last().map_or(start, |(_, v)| v.end())
}

/// Puts a finished node into the collection being built (as its next item, key or value), or
/// makes it the root; false when there is a root already.
fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node) -> bool {
    match stack.last_mut() {
        None => {
            if root.is_some() {
                return false;
            }
            *root = Some(node);
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
    true
}

/// The span tree from granit-parser events.
fn from_events(text: &str) -> Result<Option<Node>, TreeError> {
    if text.len() > MAX_TEXT {
        return Err(err_at(text, 0, "document larger than 4 GiB"));
    }
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
            Event::Alias(_) | Event::UnresolvedAlias(_) => Node::new(NodeKind::Alias, s, e),
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
                scalar(text, &value, style, s, end, anchor != 0 || tag.is_some())
            }
            Event::MappingStart(style, anchor, tag) => {
                stack.push(Frame::Map {
                    start: s,
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
                    flow: style == granit_parser::StructureStyle::Flow,
                    decorated: anchor != 0 || tag.is_some(),
                    items: Vec::new(),
                });
                continue;
            }
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    start,
                    flow,
                    decorated,
                    entries,
                    pending_key,
                }) => {
                    if pending_key.is_some() {
                        return Err(err_at(text, s, "mapping key without value"));
                    }
                    let end = if flow { e } else { last_end(start, &entries) };
                    Node::new(
                        NodeKind::Map {
                            entries: entries.into_boxed_slice(),
                            flow,
                            decorated,
                        },
                        start,
                        end,
                    )
                }
                _ => return Err(err_at(text, s, "unbalanced mapping end")),
            },
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    start,
                    flow,
                    decorated,
                    items,
                }) => {
                    let end = if flow {
                        e
                    } else {
                        items.last().map_or(start, Node::end)
                    };
                    // A block sequence starts at its first dash, not at the first item.
                    let start = if flow {
                        start
                    } else {
                        let first = items.first().map_or(start, Node::start);
                        let b = text.as_bytes();
                        let mut p = first;
                        while p > 0 && matches!(b[p - 1], b' ' | b'\t' | b'\n' | b'\r') {
                            p -= 1;
                        }
                        if p > 0 && b[p - 1] == b'-' {
                            p - 1
                        } else {
                            start
                        }
                    };
                    Node::new(
                        NodeKind::Seq {
                            items: items.into_boxed_slice(),
                            flow,
                            decorated,
                        },
                        start,
                        end,
                    )
                }
                _ => return Err(err_at(text, s, "unbalanced sequence end")),
            },
            _ => continue,
        };
        if !attach(&mut stack, &mut root, node) {
            return Err(err_at(text, s, "more than one root node"));
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
            .get(t, &[Seg::Key("b".into()), Seg::Key("c".into())])
            .unwrap();
        assert_eq!(&t[c.start()..c.end()], "\"x\"");
        assert_eq!(c.scalar(t), Some("x"));
        let d = n
            .get(t, &[Seg::Key("b".into()), Seg::Key("d".into())])
            .unwrap();
        assert_eq!(&t[d.start()..d.end()], "[1, 2]");
        let b = n.child(t, &Seg::Key("b".into())).unwrap();
        assert_eq!(b.col(t), 2);
        assert_eq!(&t[b.start()..b.end()], "c: \"x\"\n  d: [1, 2]");
        let lit = n.get(t, &[Seg::Key("e".into()), Seg::Index(0)]).unwrap();
        assert_eq!(&t[lit.start()..lit.end()], "|\n  lit\n\n");
        assert_eq!(lit.scalar(t), Some("lit\n"));
    }

    /// The line reader's tree, when it takes the text, is granit-parser's.
    fn same_tree(t: &str) -> bool {
        match from_lines(t) {
            None => false,
            Some(ours) => {
                assert_eq!(ours, from_events(t).expect("valid YAML"), "{t:?}");
                true
            }
        }
    }

    #[test]
    fn line_reader_builds_granit_parsers_tree() {
        let taken = [
            "a:\nb: 1\n",
            "a:   # c\nb:\n",
            "a:\n- \n-\n- x\n",
            "k: v  # c\n",
            "k: multi\n  line\n\n  more  \nz: 1\n",
            "k: |\n  lit\n\n\nz: 1\n",
            "k: |-\n  lit\n  \nz: 1\n",
            "k: >\n  a\n  b\n",
            "k: |\n  x\n",
            "k: |\nz: 1\n",
            "k: 'q''s'  \n",
            "k: \"a\n  b\"\n",
            "l:\n  - a: 1\n    b: 2\n  -   c\n",
            "k: []\nm: {}\nn: [a, 'b', c ]\n",
            "k: |\n  x\n# comment\nz: 1\n",
            "- a\n- b\n",
            "a: 1\r\nb:\r\n  c: 2\r\n",
            "k:\n\n",
            "k: x\n\n\n",
            "-   \n- x\n",
            "- \r\n- x\r\n",
            "-\r\n",
            "a: \r\nb: 1\r\n",
            "'a': 1\n\"b\": 2\n",
            "'a' :\n\"b\":   # c\n",
            "a:\n  - x\n  -\n",
            "a: b\n  c\n# x\nd: 1\n",
            "a: [x]\n",
            "- []\n- x\n",
            "a: |+\n  x\n\n\nb: 1\n",
            "a: |+\n  x\n\n",
            "a: >-\n  x\n   y\n\n  z\nb: 1\n",
            "a:\n- |\n  x\n- y\n",
            "# head\n\na:\n  b:\n    - c: 'd'\n      e: [\"f\", g]\n  h: {}\n",
            "a:\n  b: |\n    x\n\n  c: 1\n",
            "a: \"x\\ty\"\n",
        ];
        for t in taken {
            assert!(same_tree(t), "declined {t:?}");
        }
        // Declined ones go to granit-parser.
        for t in [
            "k:\n  |\n  x\n",
            "k: | # c\n  x\n",
            "- # c\n- x\n",
            "-\n  # c\n  a: 1\n",
            "- - x\n",
            "a: &x 1\n",
            "--- a\n",
            "a:\tb\n",
            "[a]\n",
        ] {
            assert!(from_lines(t).is_none(), "{t:?}");
            assert!(build(t).is_ok(), "{t:?}");
        }
        assert_eq!(from_lines("# only\n"), Some(None));
        // Deeper than the line reader's tree goes: the event builder takes it.
        let deep: String = (0..120)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect::<String>()
            + &" ".repeat(120)
            + "x: 1\n";
        assert!(from_lines(&deep).is_none());
        assert!(build(&deep).unwrap().is_some());
    }

    #[test]
    fn nodes_are_small() {
        assert_eq!(std::mem::size_of::<Node>(), 32);
    }

    #[test]
    fn empty_doc() {
        assert!(build("# only a comment\n").unwrap().is_none());
        assert!(build("").unwrap().is_none());
    }
}
