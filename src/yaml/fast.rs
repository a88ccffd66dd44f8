//! The typed view's fast path: the value built straight from parse events, for the plain
//! shape rendered manifests have. Events come from the line reader (`super::lines`) when it
//! accepts the document, else from `granit-parser`; one builder turns either into the value.
//!
//! serde-saphyr is the reference reader ([`super::view`]), but its generic serde machinery
//! costs about twice the parser's own time. Most rendered documents use no anchors, aliases,
//! tags, merge keys or duplicate keys, and their scalars are unambiguous; for those this module
//! builds the value directly. It *declines* (returns `None`) everything else — any anchor,
//! alias, tag, `<<` key, duplicate key, non-string key, parse error, unusual nesting or size, and
//! every plain scalar whose reading it cannot be sure of (`0755`, `1e3`, `0x1F`, `2024-01-01`,
//! `.inf`, big integers) — and serde-saphyr reads that document instead, so errors, budgets and
//! YAML 1.1 number rules stay serde-saphyr's.
//!
//! What it accepts it reads exactly as serde-saphyr with [`super::view::options`] does, with
//! plain scalars resolved by the shared table in [`super::scalar`]: the tests below compare
//! both on generated scalars and documents, `tests/corpus_e2e.rs` on every shared-corpus
//! document, and debug builds on every document any test reads (`src/yaml/agree.rs`).

use std::borrow::Cow;

use crate::finding::Str;
use crate::yaml::{Map, Value};
use granit_parser::{Event, Parser, ScalarStyle};

use super::scalar::{resolve_plain as plain, Plain};

/// Deepest nesting the fast path builds (serde-saphyr's budget in this crate is 200).
const MAX_DEPTH: usize = 100;
/// Most nodes the fast path builds (serde-saphyr's budget is 250 000).
const MAX_NODES: usize = 100_000;
/// Largest document the fast path reads. Its scalars come from its text, so they stay below
/// serde-saphyr's 64 MiB scalar budget; bigger documents are serde-saphyr's to judge.
const MAX_TEXT: usize = 32 * 1024 * 1024;

/// The document's value, or `None` when the fast path declines it (see the module docs).
pub fn parse(text: &str) -> Option<Value> {
    read(text, &[]).map(|(v, _)| v)
}

/// Like [`parse`], but the nodes at `prune` (a path of mapping keys, `*` for any sequence
/// element, `a|b` for either key: `["spec", "versions", "*", "schema"]`, `["data|binaryData"]`)
/// are validated exactly as [`parse`] would and then left out of the value. Returns the value and whether anything was left out.
pub fn parse_pruned(text: &str, prune: &[&str]) -> Option<(Value, bool)> {
    read(text, prune)
}

fn read(text: &str, prune: &[&str]) -> Option<(Value, bool)> {
    if text.len() > MAX_TEXT {
        return None;
    }
    // Block-structured documents of the common shape are read line by line, several times
    // faster than the general parser; what that reader declines goes through granit-parser.
    if let Some(r) = super::lines::read(text, prune) {
        return Some(r);
    }
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder::new(prune);
    let mut documents = 0usize;
    loop {
        let (event, _) = parser.next_event()?.ok()?;
        let ev = match event {
            Event::StreamStart | Event::DocumentEnd => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(_, version) => {
                documents += 1;
                if documents > 1 || version.is_some() {
                    return None;
                }
                continue;
            }
            Event::Scalar(s, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                Ev::Scalar(s, style == ScalarStyle::Plain)
            }
            Event::SequenceStart(_, anchor, tag) | Event::MappingStart(_, anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                return None
            }
            Event::SequenceStart(..) => Ev::SeqStart,
            Event::MappingStart(..) => Ev::MapStart,
            Event::SequenceEnd => Ev::SeqEnd,
            Event::MappingEnd => Ev::MapEnd,
            _ => return None,
        };
        b.event(ev)?;
    }
    b.finish()
}

/// One parse event, as the value builder takes it (anchors, tags and aliases are declined
/// before they get here).
pub(super) enum Ev<'a> {
    MapStart,
    MapEnd,
    SeqStart,
    SeqEnd,
    /// A scalar and whether it is plain (unquoted, not a block scalar).
    Scalar(Cow<'a, str>, bool),
}

/// Builds the value from events; every method returns `None` to decline the document.
pub(super) struct Builder<'p> {
    prune: &'p [&'p str],
    stack: Vec<Frame>,
    /// The children of every open collection, innermost last: a collection is built when
    /// it ends, at its final size (no growing maps and vectors on the way).
    values: Vec<Value>,
    /// The keys of every open mapping's children (one per value of a mapping).
    keys: Vec<Str>,
    root: Option<Value>,
    nodes: usize,
    /// Inside a pruned subtree: one entry per open collection, (is a mapping, expects a key).
    skip: Vec<(bool, bool)>,
    /// Inside a pruned subtree: a hash of every key of the open mappings, and where each
    /// open collection's keys start (a repeated key declines the document, as outside).
    skip_keys: Vec<u64>,
    skip_key_starts: Vec<usize>,
    pruned: bool,
}

impl<'p> Builder<'p> {
    pub(super) fn new(prune: &'p [&'p str]) -> Self {
        Builder {
            prune,
            stack: Vec::new(),
            values: Vec::new(),
            keys: Vec::new(),
            root: None,
            nodes: 0,
            skip: Vec::new(),
            skip_keys: Vec::new(),
            skip_key_starts: Vec::new(),
            pruned: false,
        }
    }

    pub(super) fn event(&mut self, ev: Ev<'_>) -> Option<()> {
        let prune = self.prune;
        let stack = &mut self.stack;
        if !matches!(ev, Ev::SeqEnd | Ev::MapEnd) {
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                return None;
            }
        }
        if !self.skip.is_empty() {
            let skip = &mut self.skip;
            // Everything `parse` checks is checked here too; nothing is built.
            match ev {
                Ev::Scalar(s, is_plain) => match skip.last_mut() {
                    Some((true, expects_key @ true)) => {
                        if s == "<<" || is_plain && !plain(&s)?.is_string() {
                            return None;
                        }
                        *expects_key = false;
                        self.skip_keys.push(key_hash(&s));
                    }
                    Some((is_map, expects_key)) => {
                        if is_plain {
                            plain(&s)?;
                        }
                        *expects_key = *is_map;
                    }
                    None => return None,
                },
                Ev::SeqStart | Ev::MapStart => {
                    if matches!(skip.last(), Some((true, true)))
                        || stack.len() + skip.len() >= MAX_DEPTH
                    {
                        return None;
                    }
                    skip.push((matches!(ev, Ev::MapStart), true));
                    self.skip_key_starts.push(self.skip_keys.len());
                }
                Ev::SeqEnd | Ev::MapEnd => {
                    let is_map_event = matches!(ev, Ev::MapEnd);
                    let (was_map, expects_key) = skip.pop()?;
                    if was_map != is_map_event || was_map && !expects_key {
                        return None;
                    }
                    let start = self.skip_key_starts.pop()?;
                    let keys = &mut self.skip_keys[start..];
                    keys.sort_unstable();
                    if keys.windows(2).any(|w| w[0] == w[1]) {
                        // A repeated key (or, rarely, two keys with one hash): serde-saphyr
                        // reads the document and names the key.
                        return None;
                    }
                    self.skip_keys.truncate(start);
                    match skip.last_mut() {
                        Some((is_map, expects_key)) => *expects_key = *is_map,
                        // The pruned subtree is complete: its key gets no value.
                        None => {
                            stack.last_mut()?.take_key()?;
                        }
                    }
                }
            }
            return Some(());
        }
        let value = match ev {
            Ev::Scalar(s, is_plain) => {
                if let Some(Frame {
                    kind: Kind::Map(key @ None),
                    ..
                }) = stack.last_mut()
                {
                    if s == "<<" || is_plain && !plain(&s)?.is_string() {
                        return None;
                    }
                    *key = Some(super::value::intern(&s));
                    return Some(());
                }
                let v = if is_plain {
                    match plain(&s)? {
                        Plain::Str => Value::String(s.into()),
                        Plain::Other(v) => v,
                    }
                } else {
                    Value::String(s.into())
                };
                if child_match(stack, prune) == Some(prune.len()) {
                    self.pruned = true;
                    stack.last_mut()?.take_key()?;
                    return Some(());
                }
                v
            }
            Ev::SeqStart | Ev::MapStart => {
                let is_map = matches!(ev, Ev::MapStart);
                if matches!(
                    stack.last(),
                    Some(Frame {
                        kind: Kind::Map(None),
                        ..
                    })
                ) || stack.len() >= MAX_DEPTH
                {
                    return None; // a collection as a key, or deep nesting
                }
                let matched = if stack.is_empty() {
                    (!prune.is_empty()).then_some(0)
                } else {
                    child_match(stack, prune)
                };
                if matched == Some(prune.len()) {
                    self.pruned = true;
                    self.skip.push((is_map, true));
                    self.skip_key_starts.push(self.skip_keys.len());
                    return Some(());
                }
                stack.push(Frame {
                    kind: if is_map { Kind::Map(None) } else { Kind::Seq },
                    matched,
                    values: self.values.len(),
                    keys: self.keys.len(),
                });
                return Some(());
            }
            Ev::SeqEnd => match stack.pop()? {
                Frame {
                    kind: Kind::Seq,
                    values,
                    ..
                } => Value::Array(self.values.drain(values..).collect()),
                _ => return None,
            },
            Ev::MapEnd => match stack.pop()? {
                Frame {
                    kind: Kind::Map(None),
                    values,
                    keys,
                    ..
                } => {
                    let entries: Vec<(Str, Value)> = self
                        .keys
                        .drain(keys..)
                        .zip(self.values.drain(values..))
                        .collect();
                    if super::value::has_repeated_key(&entries) {
                        return None; // duplicate keys: serde-saphyr's policy decides
                    }
                    Value::Object(Map::from_unique(entries))
                }
                _ => return None,
            },
        };
        match stack.last_mut() {
            None if self.root.is_none() => self.root = Some(value),
            None => return None,
            Some(Frame {
                kind: Kind::Seq, ..
            }) => self.values.push(value),
            Some(Frame {
                kind: Kind::Map(key),
                ..
            }) => {
                self.keys.push(key.take()?);
                self.values.push(value);
            }
        }
        Some(())
    }

    /// The value (`Null` for an empty document) and whether anything was pruned.
    pub(super) fn finish(self) -> Option<(Value, bool)> {
        if !self.stack.is_empty() || !self.skip.is_empty() {
            return None;
        }
        Some((self.root.unwrap_or(Value::Null), self.pruned))
    }
}

/// FNV-1a of a key, for finding repeated keys in pruned subtrees (a collision only sends
/// the document to serde-saphyr).
fn key_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An open collection.
struct Frame {
    kind: Kind,
    /// `Some(n)` when this collection's path is the first `n` steps of the prune path.
    matched: Option<usize>,
    /// Where its children start in the builder's `values` and `keys`.
    values: usize,
    keys: usize,
}

enum Kind {
    Seq,
    /// A mapping, with the key waiting for its value.
    Map(Option<Str>),
}

impl Frame {
    /// Drops the key waiting for its value (a pruned node); `None` if there is none.
    fn take_key(&mut self) -> Option<Str> {
        match &mut self.kind {
            Kind::Map(key) => key.take(),
            Kind::Seq => None,
        }
    }
}

/// How many steps of the prune path the next child of the innermost collection matches.
fn child_match(stack: &[Frame], prune: &[&str]) -> Option<usize> {
    let top = stack.last()?;
    let n = top.matched?;
    let step = *prune.get(n)?;
    let hit = match &top.kind {
        Kind::Seq => step == "*",
        Kind::Map(Some(k)) => step_names(step, k),
        Kind::Map(None) => false,
    };
    hit.then_some(n + 1)
}

/// True when the prune path's mapping step `step` (`key`, or `a|b` for either) names `key`.
pub(super) fn step_names(step: &str, key: &str) -> bool {
    step.split('|').any(|s| s == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// serde-saphyr's reading (the reference).
    fn reference(text: &str) -> Result<Value, String> {
        super::super::view::reference(text)
    }

    /// The fast path either declines or agrees with serde-saphyr (which must then succeed).
    fn agrees(text: &str) -> Result<bool, TestCaseError> {
        match parse(text) {
            None => Ok(false),
            Some(v) => {
                let r = reference(text);
                prop_assert_eq!(r.as_ref().ok(), Some(&v), "document: {:?}", text);
                Ok(true)
            }
        }
    }

    #[test]
    fn reads_like_serde_saphyr() {
        let cases = [
            "a: on\nb: yes\nd: \"on\"\nf: ~\ng: '0755'\n",
            "mode: 0755\nm2: 0644\nm3: 00\nm4: 07\nm5: 010\nm6: 0001\nm7: 01234567\n",
            "port: 8080\nneg: -3\nratio: 0.5\nmem: 100Mi\ncpu: 250m\nip: 10.0.0.1\nv: 1.2.3\n",
            "args: [-c, --flag, '-n', \"x\"]\nsha: 01ba4719c80b6fe911b091a7c05124b64eeece964e09c058\n",
            "k: |\n  line\n  two\nf: >\n  folded\n  text\n",
            "empty:\nk1: null\nk2: n\nk3: Y\nk4: OFF\n",
            "- a\n- [b, {c: d}]\n- {}\n- []\n",
            "\"quoted key\": 1\n'single': true\n",
            "# only a comment\n",
            "",
            "plain\n",
        ];
        for c in cases {
            assert!(agrees(c).unwrap(), "the fast path declined {c:?}");
        }
    }

    #[test]
    fn declines_what_it_cannot_be_sure_of() {
        for c in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "<<: {a: 1}\n",
            "a: 1\na: 2\n",
            "1: a\n",
            "on: a\n",
            "? [a]\n: b\n",
            "a: -0755\n",
            "a: 0_755\n",
            "a: 0758\n",
            "a: 0777777777777777777777\n",
            "a: 1e3\n",
            "a: 0x1F\n",
            "a: .inf\n",
            "a: 2024-01-01\n",
            "a: 123456789012345678901234\n",
            "a: [\n",
            "%YAML 1.1\n---\na: 1\n",
            "a: 1\n---\nb: 2\n",
        ] {
            assert_eq!(parse(c), None, "{c:?}");
        }
    }

    const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.com
spec:
  group: example.com
  versions:
  - name: v1
    served: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          a: {type: string, default: on}
          b: [1, 2.5, x]
  - name: v2
    schema: {}
  scope: Namespaced
"#;
    const PRUNE: &[&str] = &["spec", "versions", "*", "schema"];

    #[test]
    fn pruned_paths_are_left_out_and_the_rest_reads_as_before() {
        let (v, pruned) = parse_pruned(CRD, PRUNE).unwrap();
        assert!(pruned);
        let mut full = parse(CRD).unwrap();
        for version in full["spec"]["versions"].as_array_mut().unwrap() {
            version.as_object_mut().unwrap().shift_remove("schema");
        }
        assert_eq!(v, full);
        assert_eq!(v["spec"]["versions"][0]["served"], Value::Bool(true));
        assert_eq!(v["spec"]["scope"], "Namespaced");
        // Nothing at the path: nothing left out.
        assert_eq!(
            parse_pruned("a: 1\n", PRUNE),
            Some((view!({"a": 1}), false))
        );
    }

    #[test]
    fn pruned_paths_are_still_checked() {
        for bad in [
            ("a: {type: string, default: on}", "a: &x {type: string}"),
            ("b: [1, 2.5, x]", "b: [1, !!str 2, x]"),
            ("b: [1, 2.5, x]", "b: [1, .inf, x]"),
            ("b: [1, 2.5, x]", "b: [1, -0755, x]"),
            ("b: [1, 2.5, x]", "b: [1, [, x]"),
            ("b: [1, 2.5, x]", "<<: {c: d}"),
            ("b: [1, 2.5, x]", "? [k]\n          : v"),
            // A key repeated inside the pruned subtree: serde-saphyr reads the document
            // whole and names the key (CH636), as anywhere else.
            (
                "a: {type: string, default: on}",
                "a: {type: string, type: integer}",
            ),
            ("type: object\n", "type: object\n        type: array\n"),
        ] {
            let text = CRD.replace(bad.0, bad.1);
            assert_ne!(text, CRD);
            assert_eq!(parse_pruned(&text, PRUNE), None, "{text}");
            assert_eq!(parse(&text), None, "{text}");
        }
    }

    /// Plain scalars drawn from the characters numbers, booleans and nulls are made of.
    fn scalar_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[-+._0-9eE]{1,8}",
            "[-+._0-9a-fA-FxXoObB]{1,10}",
            "(inf|nan|Inf|NaN|INF|infinity|y|n|on|off|yes|no|true|false|null|Null|~)",
            "[.+-]?(inf|nan|Inf|NaN|INF)",
            "[0-9]{1,3}(\\.[0-9]{1,3}){1,4}",
            "[0-9]{1,4}(Mi|Gi|m|s|ms|h|Ki)",
            "[0-9a-z:/@_.-]{1,12}",
            "[0-9]{15,22}",
            "[-+]?0[0-9_]{0,13}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn scalars_read_like_serde_saphyr(s in scalar_text()) {
            agrees(&format!("k: {s}\n"))?;
            agrees(&format!("- {s}\n"))?;
            agrees(&format!("{s}: v\n"))?;
            agrees(&format!("k: [{s}, x]\n"))?;
        }

        #[test]
        fn documents_read_like_serde_saphyr(
            keys in proptest::collection::vec(scalar_text(), 1..6),
            vals in proptest::collection::vec(scalar_text(), 1..6),
            nested in any::<bool>(),
        ) {
            let mut doc = String::new();
            for (i, (k, v)) in keys.iter().zip(&vals).enumerate() {
                if nested {
                    doc.push_str(&format!("{k}:\n  inner{i}: {v}\n  list:\n  - {v}\n"));
                } else {
                    doc.push_str(&format!("{k}: {v}\n"));
                }
            }
            agrees(&doc)?;
        }
    }
}
