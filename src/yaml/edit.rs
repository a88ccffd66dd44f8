//! Byte-range patching of one document.
//!
//! A rule asks for [`Op`]s on paths; [`patch`] turns each into a byte-range edit of the
//! document text (insert after the last entry of a block mapping, replace a scalar's bytes,
//! drop an entry's lines, …) so that everything the rule did not ask to change keeps its
//! bytes: comments, quoting, key order, indentation. After all edits the result is parsed
//! again and compared with the expected value (the original view with the same ops applied to
//! JSON): a patch that would not read back exactly as intended is an error, never output.

use serde_json::{Map, Value};

use crate::yaml::value::{self as vv, Value as View};

use super::path::{Path, Seg};
use super::scalar::{render_like, render_scalar, render_str};
use super::tree::{self, Node, NodeKind};
use super::view;

/// One change to a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Set the value at a path, creating missing mappings on the way.
    Set(Path, Value),
    /// Append an item to the sequence at a path (created if missing).
    Append(Path, Value),
    /// Remove a mapping entry or sequence item.
    Remove(Path),
}

impl Op {
    /// The path the op touches.
    pub fn path(&self) -> &Path {
        match self {
            Op::Set(p, _) | Op::Append(p, _) | Op::Remove(p) => p,
        }
    }
}

/// Why a patch could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot patch {path}: {message}")]
pub struct EditError {
    /// The path of the op that failed.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

fn err(path: &Path, message: impl Into<String>) -> EditError {
    EditError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Layout conventions detected from a document.
#[derive(Debug, Clone, Copy)]
struct Style {
    indent: usize,
    indentless_seq: bool,
    crlf: bool,
}

fn detect_style(text: &str, root: &Node) -> Style {
    let mut indent = None;
    let mut indentless = None;
    fn walk(text: &str, n: &Node, indent: &mut Option<usize>, indentless: &mut Option<bool>) {
        if let NodeKind::Map {
            entries,
            flow: false,
            ..
        } = &n.kind
        {
            for (k, v) in entries {
                match &v.kind {
                    NodeKind::Map { flow: false, .. }
                        if indent.is_none() && v.col(text) > k.col(text) =>
                    {
                        *indent = Some(v.col(text) - k.col(text));
                    }
                    NodeKind::Seq { flow: false, .. } if indentless.is_none() => {
                        *indentless = Some(v.col(text) == k.col(text));
                    }
                    _ => {}
                }
                walk(text, v, indent, indentless);
            }
        }
        if let NodeKind::Seq { items, .. } = &n.kind {
            for i in items {
                walk(text, i, indent, indentless);
            }
        }
    }
    walk(text, root, &mut indent, &mut indentless);
    Style {
        indent: indent.unwrap_or(2).clamp(1, 8),
        indentless_seq: indentless.unwrap_or(false),
        crlf: text.contains("\r\n"),
    }
}

impl Style {
    fn nl(&self) -> &'static str {
        if self.crlf {
            "\r\n"
        } else {
            "\n"
        }
    }
}

/// Applies ops to a typed view (the expected result of the byte patch).
pub fn apply_json(v: &mut View, op: &Op) -> Result<(), EditError> {
    match op {
        Op::Set(p, new) => {
            let slot = json_slot(v, p, true)?;
            *slot = View::from(new);
        }
        Op::Append(p, item) => {
            let slot = json_slot(v, p, true)?;
            match slot {
                View::Null => *slot = View::from(vec![View::from(item)]),
                View::Array(a) => {
                    let mut items = std::mem::take(a).into_vec();
                    items.push(View::from(item));
                    *a = items.into();
                }
                _ => return Err(err(p, "not a sequence")),
            }
        }
        Op::Remove(p) => {
            let (last, parent) = match p.0.split_last() {
                Some(x) => x,
                None => return Err(err(p, "cannot remove the root")),
            };
            let parent = json_slot(v, &Path(parent.to_vec()), false)?;
            match (parent, last) {
                (View::Object(m), Seg::Key(k)) => {
                    m.shift_remove(k);
                }
                (View::Array(a), Seg::Index(i)) if *i < a.len() => {
                    let mut items = std::mem::take(a).into_vec();
                    items.remove(*i);
                    *a = items.into();
                }
                _ => return Err(err(p, "no such entry")),
            }
        }
    }
    Ok(())
}

fn json_slot<'a>(v: &'a mut View, p: &Path, create: bool) -> Result<&'a mut View, EditError> {
    let mut cur = v;
    for s in &p.0 {
        cur = match s {
            Seg::Key(k) => {
                if cur.is_null() && create {
                    *cur = View::Object(vv::Map::new());
                }
                match cur {
                    View::Object(m) => {
                        if !m.contains_key(k) {
                            if !create {
                                return Err(err(p, "no such key"));
                            }
                            // Grown by one, not doubled: most mappings get one or two
                            // new keys.
                            m.reserve_exact(1);
                            m.insert(vv::intern(k), View::Null);
                        }
                        m.get_mut(k).ok_or_else(|| err(p, "no such key"))?
                    }
                    _ => return Err(err(p, "not a mapping")),
                }
            }
            Seg::Index(i) => match cur {
                View::Array(a) => a.get_mut(*i).ok_or_else(|| err(p, "index out of range"))?,
                _ => return Err(err(p, "not a sequence")),
            },
        };
    }
    Ok(cur)
}

/// Applies `ops` to `text` (one document) and checks that the result reads back as
/// `original` with the same ops applied. Returns the new text and its value.
pub fn patch(text: &str, original: View, ops: &[Op]) -> Result<(String, View), EditError> {
    // Edits from shared span trees first; one tree per op (the reference way) when that
    // fails or reads back differently. The text is patched before the expected view is made:
    // the span tree and the grown view are not alive together (a pod with 2,000 containers:
    // the patch's peak, 1.9 MB of grown mappings).
    let batched = apply_batched(text, ops);
    let mut expected = original;
    for op in ops {
        apply_json(&mut expected, op)?;
    }
    if let Ok(cur) = batched {
        if let Ok(got) = view::parse(&cur) {
            if got == expected {
                return Ok((cur, got));
            }
        }
    }
    let mut cur = text.to_string();
    for op in ops {
        cur = apply_one(&cur, op)?;
    }
    let got = view::parse(&cur).map_err(|e| {
        err(
            &Path::root(),
            format!(
                "patched document does not parse: {}",
                view::redact_parse_message(&cur, e)
            ),
        )
    })?;
    if got != expected {
        return Err(err(
            &Path::root(),
            "patched document does not read back as intended (internal error; please report)",
        ));
    }
    Ok((cur, got))
}

fn build(text: &str, p: &Path) -> Result<Node, EditError> {
    match tree::build(text) {
        Ok(Some(n)) => Ok(n),
        Ok(None) => Err(err(p, "empty document")),
        Err(e) => Err(err(p, format!("line {}: {}", e.line, e.message))),
    }
}

/// Where a node sits: its parent and (for mapping values) its key node.
struct Located<'a> {
    node: &'a Node,
    parent: Option<&'a Node>,
    key: Option<&'a Node>,
}

fn locate<'a>(text: &str, root: &'a Node, path: &[Seg]) -> (usize, Located<'a>) {
    let mut loc = Located {
        node: root,
        parent: None,
        key: None,
    };
    for (depth, s) in path.iter().enumerate() {
        let next = match (&loc.node.kind, s) {
            (NodeKind::Map { entries, .. }, Seg::Key(k)) => entries
                .iter()
                .rev() // duplicate keys: the last one wins, as in Kubernetes
                .find(|(key, _)| key.scalar(text) == Some(&**k))
                .map(|(key, v)| (Some(key), v)),
            (NodeKind::Seq { items, .. }, Seg::Index(i)) => items.get(*i).map(|v| (None, v)),
            _ => None,
        };
        match next {
            Some((key, v)) => {
                loc = Located {
                    node: v,
                    parent: Some(loc.node),
                    key,
                };
            }
            None => return (depth, loc),
        }
    }
    (path.len(), loc)
}

fn is_null_scalar(text: &str, n: &Node) -> bool {
    matches!(&n.kind, NodeKind::Scalar { style: granit_parser::ScalarStyle::Plain, .. }
        if n.scalar(text).is_some_and(super::scalar::is_null))
}

/// One byte-range replacement of a document's text.
#[derive(Debug)]
struct Edit {
    start: usize,
    end: usize,
    with: String,
}

impl Edit {
    fn apply(&self, text: &str) -> String {
        let mut s = String::with_capacity(text.len() + self.with.len());
        s.push_str(&text[..self.start]);
        s.push_str(&self.with);
        s.push_str(&text[self.end..]);
        s
    }
}

fn splice(start: usize, end: usize, with: &str) -> Edit {
    Edit {
        start,
        end,
        with: with.to_string(),
    }
}

/// The offset of the start of the line after the one `pos` is on (or `pos` itself when it
/// already is a line start after content).
fn after_line(text: &str, pos: usize) -> usize {
    let b = text.as_bytes();
    if pos > 0 && b.get(pos - 1) == Some(&b'\n') {
        return pos;
    }
    match b[pos..].iter().position(|&c| c == b'\n') {
        Some(p) => pos + p + 1,
        None => text.len(),
    }
}

fn line_start(text: &str, pos: usize) -> usize {
    match text.as_bytes()[..pos].iter().rposition(|&c| c == b'\n') {
        Some(p) => p + 1,
        None => 0,
    }
}

fn only_space_before(text: &str, pos: usize) -> bool {
    text[line_start(text, pos)..pos]
        .bytes()
        .all(|c| c == b' ' || c == b'\t')
}

/// Inserts whole lines at `at` (a line start, or the end of a text lacking a final newline).
fn insert_lines(text: &str, at: usize, lines: &str, st: &Style) -> Edit {
    if at == text.len() && !text.is_empty() && !text.ends_with('\n') {
        let lines = lines.strip_suffix(st.nl()).unwrap_or(lines);
        return splice(at, at, &format!("{}{}", st.nl(), lines));
    }
    splice(at, at, lines)
}

fn apply_one(text: &str, op: &Op) -> Result<String, EditError> {
    let root = build(text, op.path())?;
    let st = detect_style(text, &root);
    Ok(edit_for(text, &root, op, &st)?.apply(text))
}

/// The edit that makes `op` on `text`, located with its span tree `root`.
fn edit_for(text: &str, root: &Node, op: &Op, st: &Style) -> Result<Edit, EditError> {
    match op {
        Op::Set(p, v) => set(text, root, p, v, st),
        Op::Append(p, v) => append(text, root, p, v, st),
        Op::Remove(p) => remove(text, root, p, st),
    }
}

/// Closed byte ranges, kept as a union of disjoint ranges: "does `[s, e]` touch any of them?"
/// in one ordered lookup.
#[derive(Default)]
struct Ranges(std::collections::BTreeMap<usize, usize>);

impl Ranges {
    fn touches(&self, s: usize, e: usize) -> bool {
        // The ranges are disjoint: only the last one starting at or before `e` can reach `s`.
        self.0
            .range(..=e)
            .next_back()
            .is_some_and(|(_, &end)| end >= s)
    }

    fn insert(&mut self, mut s: usize, mut e: usize) {
        while let Some((&ps, &pe)) = self.0.range(..=e).next_back() {
            if pe < s {
                break;
            }
            self.0.remove(&ps);
            s = s.min(ps);
            e = e.max(pe);
        }
        self.0.insert(s, e);
    }
}

/// Applies `ops` in order in rounds, one span tree per round: each round makes the edits of
/// every op that touches no edit of this round before it and no op it must follow (an op
/// touching a deferred one is deferred too, so touching ops keep their order; disjoint edits
/// commute). The number of rounds is the most ops that touch one place (a handful: the
/// fields a fix adds to one container), not the number of ops, so a document with thousands
/// of edits is read a few times, not thousands. What this gives is checked by [`patch`], which
/// applies the ops one tree per op when the result does not read back as intended.
/// The ops among `ops` that would edit a node of `text` carrying an anchor, alias or tag,
/// which the patcher refuses (an anchored node is shared with its aliases): their indexes
/// and the patcher's error, found on one span tree without editing anything. The fix loop
/// withholds the fixes holding such an op instead of failing the run.
pub fn decorated_ops(text: &str, ops: &[&Op]) -> Vec<(usize, EditError)> {
    let Some(first) = ops.first() else {
        return Vec::new();
    };
    let Ok(root) = build(text, first.path()) else {
        return Vec::new();
    };
    let st = detect_style(text, &root);
    ops.iter()
        .enumerate()
        .filter_map(|(i, op)| match edit_for(text, &root, op, &st) {
            Err(e) if e.message == DECORATED => Some((i, e)),
            _ => None,
        })
        .collect()
}

/// The patcher's message for a node it does not edit.
const DECORATED: &str = "the node carries an anchor, alias or tag";

fn apply_batched(text: &str, ops: &[Op]) -> Result<String, EditError> {
    let mut cur = text.to_string();
    let mut pending: Vec<&Op> = ops.iter().collect();
    while !pending.is_empty() {
        let root = build(&cur, pending[0].path())?;
        let st = detect_style(&cur, &root);
        let mut batch: Vec<Edit> = Vec::new();
        let mut made = Ranges::default();
        let mut blocked = Ranges::default();
        let mut later: Vec<&Op> = Vec::new();
        for op in pending {
            let e = edit_for(&cur, &root, op, &st)?;
            if made.touches(e.start, e.end) || blocked.touches(e.start, e.end) {
                blocked.insert(e.start, e.end);
                later.push(op);
                continue;
            }
            made.insert(e.start, e.end);
            batch.push(e);
        }
        pending = later;
        // The tree goes before the next text is made (edits own their text).
        drop(root);
        // The edits of a batch touch no common byte: in order, they make the next text.
        batch.sort_by_key(|e| e.start);
        let mut out =
            String::with_capacity(cur.len() + batch.iter().map(|e| e.with.len()).sum::<usize>());
        let mut pos = 0;
        for e in &batch {
            out.push_str(&cur[pos..e.start]);
            out.push_str(&e.with);
            pos = e.end;
        }
        out.push_str(&cur[pos..]);
        cur = out;
    }
    Ok(cur)
}

/// Nests `v` under the remaining keys.
fn nest(rest: &[Seg], v: &Value, p: &Path) -> Result<Value, EditError> {
    let mut out = v.clone();
    for s in rest.iter().rev() {
        match s {
            Seg::Key(k) => {
                let mut m = Map::new();
                m.insert(k.to_string(), out);
                out = Value::Object(m);
            }
            Seg::Index(_) => return Err(err(p, "cannot create a sequence item by index")),
        }
    }
    Ok(out)
}

fn set(text: &str, root: &Node, p: &Path, v: &Value, st: &Style) -> Result<Edit, EditError> {
    let (depth, loc) = locate(text, root, &p.0);
    let n = loc.node;
    if n.decorated() {
        return Err(err(p, DECORATED));
    }
    if depth == p.0.len() {
        return replace_node(text, &loc, v, st, p);
    }
    // Missing key below `n`.
    let key = match &p.0[depth] {
        Seg::Key(k) => k.to_string(),
        Seg::Index(_) => return Err(err(p, "sequence index out of range")),
    };
    let value = nest(&p.0[depth + 1..], v, p)?;
    let mut m = Map::new();
    m.insert(key, value);
    insert_into_map(text, &loc, &m, st, p)
}

/// Adds entries to the mapping at `loc` (which may be a null scalar or an empty flow map).
fn insert_into_map(
    text: &str,
    loc: &Located<'_>,
    add: &Map<String, Value>,
    st: &Style,
    p: &Path,
) -> Result<Edit, EditError> {
    let n = loc.node;
    match &n.kind {
        NodeKind::Map {
            entries,
            flow: false,
            ..
        } => {
            let last_end = entries.last().map_or(n.end(), |(_, v)| v.end());
            let at = after_line(text, last_end);
            let mut lines = String::new();
            for (k, v) in add {
                lines.push_str(&render_entry(k, v, n.col(text), st));
            }
            Ok(insert_lines(text, at, &lines, st))
        }
        NodeKind::Map {
            entries,
            flow: true,
            ..
        } => {
            if entries.is_empty() {
                let mut merged = Map::new();
                merged.extend(add.clone());
                return replace_node(text, loc, &Value::Object(merged), st, p);
            }
            // `{a: b}` → `{a: b, c: d}`
            let close = n.end().saturating_sub(1);
            let mut at = close;
            while at > n.start() && text.as_bytes()[at - 1].is_ascii_whitespace() {
                at -= 1;
            }
            let mut s = String::new();
            for (k, v) in add {
                s.push_str(", ");
                s.push_str(&render_str(k));
                s.push_str(": ");
                s.push_str(&render_flow(v));
            }
            Ok(splice(at, at, &s))
        }
        NodeKind::Scalar { .. } if is_null_scalar(text, n) => {
            replace_node(text, loc, &Value::Object(add.clone()), st, p)
        }
        _ => Err(err(p, "expected a mapping")),
    }
}

/// Replaces the node at `loc` with `v`.
fn replace_node(
    text: &str,
    loc: &Located<'_>,
    v: &Value,
    st: &Style,
    p: &Path,
) -> Result<Edit, EditError> {
    let n = loc.node;
    if n.decorated() {
        return Err(err(p, DECORATED));
    }
    let is_collection = matches!(v, Value::Object(m) if !m.is_empty())
        || matches!(v, Value::Array(a) if !a.is_empty());
    // Scalars (and empty collections) replace the node's bytes.
    if !is_collection {
        let mut s = match (v, &n.kind) {
            (Value::Object(_), _) => "{}".to_string(),
            (Value::Array(_), _) => "[]".to_string(),
            (other, NodeKind::Scalar { style, .. }) => render_like(other, *style),
            (other, _) => render_scalar(other),
        };
        let (start, end) = (n.start(), n.end());
        if matches!(
            n.kind,
            NodeKind::Scalar {
                style: granit_parser::ScalarStyle::Literal | granit_parser::ScalarStyle::Folded,
                ..
            }
        ) {
            s.push_str(st.nl());
        }
        if n.is_block_collection() {
            // Put the scalar back on the key's line.
            if let Some(k) = loc.key {
                let colon = colon_after(text, k.end()).unwrap_or(k.end());
                let at = after_line(text, n.end());
                return Ok(splice(colon + 1, at, &format!(" {s}{}", st.nl())));
            }
        }
        return Ok(splice(start, end, &s));
    }
    // A collection replaces a flow node or a block node in block layout when its parent
    // mapping is block; otherwise in flow layout.
    let parent_block = loc.parent.is_some_and(Node::is_block_collection);
    if let (Some(k), true) = (loc.key, parent_block) {
        // `key: <anything>` → `key:\n  <block>`
        let colon = colon_after(text, k.end()).ok_or_else(|| err(p, "no ':' after key"))?;
        let end = if n.is_block_collection() || is_block_scalar(n) {
            after_line(text, n.end())
        } else {
            // keep a trailing comment on the key's line after the flow node
            n.end()
        };
        let body = render_value_lines(v, k.col(text), st);
        let trailing_same_line = !n.is_block_collection() && !is_block_scalar(n);
        let replacement = if trailing_same_line {
            // `key: {}  # c` → `key:  # c\n  a: b\n` would move the comment; keep it simple:
            // the rest of the line after the flow node stays after the new block.
            let rest_end = after_line(text, n.end());
            let rest = text[n.end()..rest_end]
                .trim_end_matches(['\r', '\n'])
                .to_string();
            let rest = rest.trim().to_string();
            let comment = if rest.starts_with('#') {
                format!(" {rest}")
            } else {
                String::new()
            };
            return Ok(splice(
                colon + 1,
                rest_end,
                &format!("{comment}{}{}", st.nl(), body),
            ));
        } else {
            format!("{}{}", st.nl(), body)
        };
        return Ok(splice(colon + 1, end, &replacement));
    }
    if n.is_block_collection() && loc.key.is_none() {
        // A block collection that is a sequence item or the root: re-render in place.
        let body = render_value_lines(v, n.col(text).saturating_sub(st.indent), st);
        let body = body.trim_start_matches(' ').to_string();
        let end = after_line(text, n.end());
        return Ok(splice(n.start(), end, &body));
    }
    Ok(splice(n.start(), n.end(), &render_flow(v)))
}

fn is_block_scalar(n: &Node) -> bool {
    matches!(
        n.kind,
        NodeKind::Scalar {
            style: granit_parser::ScalarStyle::Literal | granit_parser::ScalarStyle::Folded,
            ..
        }
    )
}

fn colon_after(text: &str, key_end: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = key_end;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    (b.get(i) == Some(&b':')).then_some(i)
}

fn append(text: &str, root: &Node, p: &Path, v: &Value, st: &Style) -> Result<Edit, EditError> {
    let (depth, loc) = locate(text, root, &p.0);
    if depth < p.0.len() {
        return set(text, root, p, &Value::Array(vec![v.clone()]), st);
    }
    let n = loc.node;
    if n.decorated() {
        return Err(err(p, DECORATED));
    }
    match &n.kind {
        NodeKind::Seq {
            items, flow: false, ..
        } => {
            let last_end = items.last().map_or(n.end(), |i| i.end());
            let at = after_line(text, last_end);
            let lines = render_seq_lines(std::slice::from_ref(v), n.col(text), st);
            Ok(insert_lines(text, at, &lines, st))
        }
        NodeKind::Seq {
            items, flow: true, ..
        } => {
            if items.is_empty() {
                return replace_node(text, &loc, &Value::Array(vec![v.clone()]), st, p);
            }
            let close = n.end().saturating_sub(1);
            let mut at = close;
            while at > n.start() && text.as_bytes()[at - 1].is_ascii_whitespace() {
                at -= 1;
            }
            Ok(splice(at, at, &format!(", {}", render_flow(v))))
        }
        NodeKind::Scalar { .. } if is_null_scalar(text, n) => {
            replace_node(text, &loc, &Value::Array(vec![v.clone()]), st, p)
        }
        _ => Err(err(p, "expected a sequence")),
    }
}

fn remove(text: &str, root: &Node, p: &Path, st: &Style) -> Result<Edit, EditError> {
    let Some((last, parent_path)) = p.0.split_last() else {
        return Err(err(p, "cannot remove the root"));
    };
    let (depth, ploc) = locate(text, root, parent_path);
    if depth < parent_path.len() {
        return Err(err(p, "no such entry"));
    }
    let parent = ploc.node;
    match (&parent.kind, last) {
        (NodeKind::Map { entries, flow, .. }, Seg::Key(k)) => {
            let Some(idx) = entries
                .iter()
                .rposition(|(key, _)| key.scalar(text) == Some(k))
            else {
                return Err(err(p, "no such key"));
            };
            if entries.len() == 1 {
                return replace_node(text, &ploc, &Value::Object(Map::new()), st, p);
            }
            let (key, val) = &entries[idx];
            if *flow {
                return remove_flow_item(text, key.start(), val.end(), parent, idx, entries.len());
            }
            if idx + 1 < entries.len() {
                let next = &entries[idx + 1].0;
                if only_space_before(text, key.start()) {
                    let ls = line_start(text, key.start());
                    let ns = line_start(text, next.start());
                    return Ok(splice(ls, ns, ""));
                }
                return Ok(splice(key.start(), next.start(), ""));
            }
            let ls = line_start(text, key.start());
            let end = after_line(text, val.end());
            Ok(splice(ls, end, ""))
        }
        (NodeKind::Seq { items, flow, .. }, Seg::Index(i)) => {
            let Some(item) = items.get(*i) else {
                return Err(err(p, "index out of range"));
            };
            if items.len() == 1 {
                return replace_node(text, &ploc, &Value::Array(Vec::new()), st, p);
            }
            if *flow {
                return remove_flow_item(text, item.start(), item.end(), parent, *i, items.len());
            }
            // The item starts at its dash: the first item at the sequence start, others at
            // the dash before their content.
            let dash = if *i == 0 {
                parent.start()
            } else {
                let mut d = item.start();
                let b = text.as_bytes();
                while d > 0 && b[d - 1] != b'-' {
                    d -= 1;
                }
                d.saturating_sub(1)
            };
            let ls = line_start(text, dash);
            if !only_space_before(text, dash) {
                return Err(err(p, "sequence item shares a line with other content"));
            }
            let end = if *i + 1 < items.len() {
                line_start(text, {
                    let next = &items[*i + 1];
                    let mut d = next.start();
                    let b = text.as_bytes();
                    while d > 0 && b[d - 1] != b'-' {
                        d -= 1;
                    }
                    d.saturating_sub(1)
                })
            } else {
                after_line(text, item.end())
            };
            Ok(splice(ls, end, ""))
        }
        _ => Err(err(p, "no such entry")),
    }
}

fn remove_flow_item(
    text: &str,
    start: usize,
    end: usize,
    _parent: &Node,
    idx: usize,
    len: usize,
) -> Result<Edit, EditError> {
    let b = text.as_bytes();
    if idx + 1 < len {
        // remove "item, "
        let mut e = end;
        while e < b.len() && b[e] != b',' {
            e += 1;
        }
        e += 1;
        while e < b.len() && (b[e] == b' ' || b[e] == b'\t') {
            e += 1;
        }
        Ok(splice(start, e.min(b.len()), ""))
    } else {
        // remove ", item"
        let mut s = start;
        while s > 0 && b[s - 1] != b',' {
            s -= 1;
        }
        Ok(splice(s.saturating_sub(1), end, ""))
    }
}

/// Flow rendering (`{a: b, c: [d]}`), used inside flow collections.
pub fn render_flow(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", render_str(k), render_flow(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(render_flow).collect();
            format!("[{}]", parts.join(", "))
        }
        other => render_scalar(other),
    }
}

/// `key: value` as whole lines at column `col`.
fn render_entry(k: &str, v: &Value, col: usize, st: &Style) -> String {
    let pad = " ".repeat(col);
    match v {
        Value::Object(m) if !m.is_empty() => {
            format!(
                "{pad}{}:{}{}",
                render_str(k),
                st.nl(),
                render_map_lines(m, col + st.indent, st)
            )
        }
        Value::Array(a) if !a.is_empty() => {
            let dash = if st.indentless_seq {
                col
            } else {
                col + st.indent
            };
            format!(
                "{pad}{}:{}{}",
                render_str(k),
                st.nl(),
                render_seq_lines(a, dash, st)
            )
        }
        other => format!("{pad}{}: {}{}", render_str(k), render_flow(other), st.nl()),
    }
}

fn render_map_lines(m: &Map<String, Value>, col: usize, st: &Style) -> String {
    m.iter().map(|(k, v)| render_entry(k, v, col, st)).collect()
}

fn render_seq_lines(items: &[Value], dash_col: usize, st: &Style) -> String {
    let pad = " ".repeat(dash_col);
    let mut out = String::new();
    for it in items {
        match it {
            Value::Object(m) if !m.is_empty() => {
                let body = render_map_lines(m, dash_col + 2, st);
                // first entry goes on the dash line
                let body = &body[dash_col + 2..];
                out.push_str(&format!("{pad}- {body}"));
            }
            other => out.push_str(&format!("{pad}- {}{}", render_flow(other), st.nl())),
        }
    }
    out
}

/// A non-empty collection as block lines for the value of a key at column `key_col`.
fn render_value_lines(v: &Value, key_col: usize, st: &Style) -> String {
    match v {
        Value::Object(m) => render_map_lines(m, key_col + st.indent, st),
        Value::Array(a) => {
            let dash = if st.indentless_seq {
                key_col
            } else {
                key_col + st.indent
            };
            render_seq_lines(a, dash, st)
        }
        other => format!(
            "{}{}{}",
            " ".repeat(key_col + st.indent),
            render_flow(other),
            st.nl()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(text: &str, ops: &[Op]) -> String {
        let v = view::parse(text).unwrap();
        patch(text, v, ops).unwrap().0
    }

    fn k(s: &str) -> Path {
        Path::keys(s)
    }

    #[test]
    fn insert_nested_into_container() {
        let t = "spec:\n  containers:\n  - name: c # keep\n    image: nginx\n  - name: d\n";
        let p = k("spec.containers").index(0).key("securityContext");
        let out = run(
            t,
            &[Op::Set(p.key("allowPrivilegeEscalation"), json!(false))],
        );
        assert_eq!(
            out,
            "spec:\n  containers:\n  - name: c # keep\n    image: nginx\n    securityContext:\n      allowPrivilegeEscalation: false\n  - name: d\n"
        );
    }

    #[test]
    fn empty_flow_map_becomes_block() {
        let t = "spec:\n  securityContext: {}\n  x: 1\n";
        let out = run(
            t,
            &[Op::Set(k("spec.securityContext.runAsNonRoot"), json!(true))],
        );
        assert_eq!(
            out,
            "spec:\n  securityContext:\n    runAsNonRoot: true\n  x: 1\n"
        );
    }

    #[test]
    fn null_value_becomes_block() {
        let t = "spec:\n  securityContext:\n  x: 1\n";
        let out = run(
            t,
            &[Op::Set(k("spec.securityContext.runAsNonRoot"), json!(true))],
        );
        assert_eq!(
            out,
            "spec:\n  securityContext:\n    runAsNonRoot: true\n  x: 1\n"
        );
    }

    #[test]
    fn replace_scalar_keeps_rest() {
        let t = "a: \"x\" # c\nb: 'on'\n";
        let out = run(t, &[Op::Set(k("a"), json!("on"))]);
        assert_eq!(out, "a: \"on\" # c\nb: 'on'\n");
    }

    #[test]
    fn append_block_and_flow() {
        let t = "d:\n  - A\nf: [B]\ne: []\n";
        let out = run(
            t,
            &[
                Op::Append(k("d"), json!("ALL")),
                Op::Append(k("f"), json!("ALL")),
                Op::Append(k("e"), json!("ALL")),
            ],
        );
        assert_eq!(out, "d:\n  - A\n  - ALL\nf: [B, ALL]\ne:\n  - ALL\n");
    }

    #[test]
    fn remove_entries_and_items() {
        let t = "s:\n- name: a\n  x: 1\n- name: b\nm:\n  k: 1\n  j: 2\n";
        let out = run(t, &[Op::Remove(k("s").index(0)), Op::Remove(k("m.k"))]);
        assert_eq!(out, "s:\n- name: b\nm:\n  j: 2\n");
        let out = run(t, &[Op::Remove(k("s").index(0).key("name"))]);
        assert_eq!(out, "s:\n- x: 1\n- name: b\nm:\n  k: 1\n  j: 2\n");
    }

    #[test]
    fn crlf_and_no_final_newline() {
        let t = "a:\r\n  b: 1";
        let out = run(t, &[Op::Set(k("a.c"), json!("yes"))]);
        assert_eq!(out, "a:\r\n  b: 1\r\n  c: \"yes\"");
    }

    #[test]
    fn block_scalar_last() {
        let t = "a:\n  s: |\n    x\n\n  # c\nb: 1\n";
        let out = run(t, &[Op::Set(k("a.t"), json!(1))]);
        assert_eq!(out, "a:\n  s: |\n    x\n\n  t: 1\n  # c\nb: 1\n");
    }
}
