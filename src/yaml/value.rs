//! The typed view's value: what a document reads as, in a compact form.
//!
//! It reads like `serde_json::Value` (the same variants and accessors) but a mapping is a
//! vector of (key, value) entries in document order instead of an `IndexMap`, keys are
//! shared strings interned per parsing thread, and strings and sequences are boxed slices
//! (a value is 24 bytes, not 80). A mapping entry costs 40 bytes instead of `IndexMap`'s 112
//! plus a hash table and a key allocation, which is most of what a stream's
//! views cost (issue 18: peak RSS 3x input + 20 MiB). Manifests' mappings are small, so a key
//! is found by comparing in order. Fix values, reports and k8s-openapi conversions stay
//! `serde_json::Value`; [`Value::to_json`] and `From<&serde_json::Value>` convert.

use std::fmt;

pub use serde_json::Number;

use crate::finding::Str;

/// A YAML document's reading: null, boolean, number, string, sequence or mapping.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// `null`, `~` or nothing.
    #[default]
    Null,
    /// `true` or `false` (YAML 1.1 also reads `yes`, `on`, ...).
    Bool(bool),
    /// An integer or a float.
    Number(Number),
    /// A string.
    String(Box<str>),
    /// A sequence.
    Array(Box<[Value]>),
    /// A mapping.
    Object(Map),
}

/// A mapping: its entries in document order, each key once.
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(Str, Value)>,
}

/// One shared copy of a string that repeats across a stream (mapping keys; an object's
/// apiVersion, kind, namespace and template file), per parsing thread: a bounded table of the
/// strings seen last (a manifest repeats a few hundred keys).
pub fn intern(s: &str) -> Str {
    thread_local! {
        static SEEN: Interned = Interned::default();
    }
    SEEN.with(|seen| seen.get(s))
}

/// A bounded table of shared strings (see [`intern`] and [`crate::finding::shared`]): the
/// 4,096 seen last.
#[derive(Default)]
pub(crate) struct Interned(std::cell::RefCell<std::collections::HashSet<Str>>);

impl Interned {
    /// The table's copy of `s` (made when it has none).
    pub(crate) fn get(&self, s: &str) -> Str {
        const MOST: usize = 4096;
        let mut seen = self.0.borrow_mut();
        if let Some(x) = seen.get(s) {
            return x.clone();
        }
        if seen.len() >= MOST {
            seen.clear();
        }
        let x = Str::from(s);
        seen.insert(x.clone());
        x
    }
}

static NULL: Value = Value::Null;

impl Map {
    /// An empty mapping.
    pub fn new() -> Self {
        Map::default()
    }

    /// An empty mapping with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Map {
            entries: Vec::with_capacity(n),
        }
    }

    /// A mapping of `entries`, which the caller knows hold each key once.
    pub(crate) fn from_unique(entries: Vec<(Str, Value)>) -> Self {
        debug_assert!(!has_repeated_key(&entries));
        Map { entries }
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k.as_str() == key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// True when it holds `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Room for `n` more entries, exactly.
    pub fn reserve_exact(&mut self, n: usize) {
        self.entries.reserve_exact(n);
    }

    /// Sets `key` (in its place when present, else last); returns the old value.
    pub fn insert(&mut self, key: impl Into<Str>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, moving the last entry into its place (like `serde_json::Map::remove`
    /// with `preserve_order`).
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.entries.swap_remove(i).1)
    }

    /// Removes `key`, keeping the order of the others.
    pub fn shift_remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.entries.remove(i).1)
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Str, &Value)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Str> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// True when two entries share a key (sorting keys past a few; comparing in order below).
pub(crate) fn has_repeated_key(entries: &[(Str, Value)]) -> bool {
    if entries.len() <= 16 {
        return entries
            .iter()
            .enumerate()
            .any(|(i, (k, _))| entries[..i].iter().any(|(j, _)| j == k));
    }
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

/// Mappings are equal when they hold the same keys with equal values, in any order (like
/// `serde_json::Map`).
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        if self.len() != other.len() {
            return false;
        }
        if self
            .entries
            .iter()
            .zip(&other.entries)
            .all(|((a, x), (b, y))| a == b && x == y)
        {
            return true;
        }
        if self.len() <= 16 {
            return self.entries.iter().all(|(k, v)| other.get(k) == Some(v));
        }
        let index: std::collections::HashMap<&str, &Value> =
            other.entries.iter().map(|(k, v)| (k.as_str(), v)).collect();
        self.entries
            .iter()
            .all(|(k, v)| index.get(k.as_str()) == Some(&v))
    }
}

impl Eq for Map {}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Str, Value)>,
        fn(&'a (Str, Value)) -> (&'a Str, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Map {
    type Item = (Str, Value);
    type IntoIter = std::vec::IntoIter<(Str, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(Str, Value)> for Map {
    /// A repeated key keeps its first place and its last value (like `insert`).
    fn from_iter<I: IntoIterator<Item = (Str, Value)>>(iter: I) -> Self {
        Map::last_wins(iter.into_iter().collect())
    }
}

impl Map {
    /// A mapping of `entries`; a repeated key keeps its first place and its last value.
    fn last_wins(entries: Vec<(Str, Value)>) -> Self {
        if !has_repeated_key(&entries) {
            return Map { entries };
        }
        let mut at: std::collections::HashMap<Str, usize> = std::collections::HashMap::new();
        let mut out: Vec<(Str, Value)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match at.get(&k) {
                Some(&i) => out[i].1 = v,
                None => {
                    at.insert(k.clone(), out.len());
                    out.push((k, v));
                }
            }
        }
        Map { entries: out }
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// A `Value` index: a mapping key or a sequence position (like `serde_json::value::Index`).
pub trait Index {
    /// The value this index names in `v`.
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value>;
    /// The value this index names in `v`, to change.
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value>;
}

impl Index for usize {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_array()?.get(*self)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        v.as_array_mut()?.get_mut(*self)
    }
}

impl Index for str {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_object()?.get(self)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        v.as_object_mut()?.get_mut(self)
    }
}

impl Index for String {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        self.as_str().index_into(v)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        self.as_str().index_into_mut(v)
    }
}

impl Index for Str {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        self.as_str().index_into(v)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        self.as_str().index_into_mut(v)
    }
}

impl<T: Index + ?Sized> Index for &T {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        (**self).index_into(v)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        (**self).index_into_mut(v)
    }
}

impl<I: Index> std::ops::Index<I> for Value {
    type Output = Value;
    fn index(&self, i: I) -> &Value {
        i.index_into(self).unwrap_or(&NULL)
    }
}

/// Like `serde_json::Value`: a missing key of a mapping is added as `Null`; anything else that
/// does not hold the index panics.
impl std::ops::IndexMut<&str> for Value {
    fn index_mut(&mut self, k: &str) -> &mut Value {
        if self.is_null() {
            *self = Value::Object(Map::new());
        }
        let Value::Object(m) = self else {
            panic!("cannot index a non-mapping with {k:?}")
        };
        if !m.contains_key(k) {
            m.insert(intern(k), Value::Null);
        }
        m.get_mut(k).unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::IndexMut<usize> for Value {
    fn index_mut(&mut self, i: usize) -> &mut Value {
        match self.as_array_mut().and_then(|a| a.get_mut(i)) {
            Some(v) => v,
            None => panic!("cannot index with {i}"),
        }
    }
}

impl Value {
    /// The value of `key`.
    pub fn get<I: Index>(&self, i: I) -> Option<&Value> {
        i.index_into(self)
    }

    /// The value of `key`, to change.
    pub fn get_mut<I: Index>(&mut self, i: I) -> Option<&mut Value> {
        i.index_into_mut(self)
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if it is one.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The number as a `u64`, if it is one that fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    /// The number as an `i64`, if it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    /// The number as an `f64`, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    /// The sequence, if it is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The sequence, if it is one, to change.
    pub fn as_array_mut(&mut self) -> Option<&mut [Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The mapping, if it is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The mapping, if it is one, to change.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True for a boolean.
    pub fn is_boolean(&self) -> bool {
        matches!(self, Value::Bool(_))
    }

    /// True for a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    /// True for a sequence.
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    /// True for a mapping.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// Takes the value, leaving `Null`.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// The value at a JSON Pointer (RFC 6901), like `serde_json::Value::pointer`.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        crate::yaml::view::ValueExt::ptr(self, pointer)
    }

    /// The same value as a `serde_json::Value` (for fixes, reports and typed conversions).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A pointer token as a sequence index: digits, no leading zero (like serde_json).
pub(crate) fn array_index(s: &str) -> Option<usize> {
    if s.starts_with('+') || (s.starts_with('0') && s.len() != 1) {
        return None;
    }
    s.parse().ok()
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.clone()),
            serde_json::Value::String(s) => Value::String(s.as_str().into()),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => Value::Object(Map::from_unique(
                m.iter().map(|(k, v)| (intern(k), Value::from(v))).collect(),
            )),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => Value::Object(Map::from_unique(
                m.into_iter()
                    .map(|(k, v)| (intern(&k), Value::from(v)))
                    .collect(),
            )),
        }
    }
}

impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> serde_json::Value {
        v.to_json()
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Number(n.into())
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Number(n.into())
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Object(m)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Value {
        Value::Array(a.into())
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<i64> for Value {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl PartialEq<serde_json::Value> for Value {
    fn eq(&self, other: &serde_json::Value) -> bool {
        match (self, other) {
            (Value::Null, serde_json::Value::Null) => true,
            (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
            (Value::Number(a), serde_json::Value::Number(b)) => a == b,
            (Value::String(a), serde_json::Value::String(b)) => **a == **b,
            (Value::Array(a), serde_json::Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            (Value::Object(a), serde_json::Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k.as_str()).is_some_and(|w| v == w))
            }
            _ => false,
        }
    }
}

impl PartialEq<Value> for serde_json::Value {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

/// Prints like `serde_json::Value` (tests and messages show the same text).
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_json(), f)
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Compact JSON, like `serde_json::Value`'s `Display`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_json(), f)
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k.as_str(), v)?;
                }
                map.end()
            }
        }
    }
}

/// Reads like `serde_json::Value` does (a float that is not finite reads as `Null`; a
/// repeated key keeps its first place and its last value).
impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Visitor)
    }
}

struct Visitor;

impl<'de> serde::de::Visitor<'de> for Visitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid YAML value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out.into()))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<std::borrow::Cow<'de, str>, Value>()? {
            out.push((intern(&k), v));
        }
        Ok(Value::Object(Map::last_wins(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<(Str, Value)>(), 40);
    }

    #[test]
    fn reads_like_serde_json() {
        let j = serde_json::json!({"a": {"b": [1, "x", null, true, 1.5]}, "c~/d": -3});
        let v = Value::from(&j);
        assert_eq!(v.to_json(), j);
        assert_eq!(v, j);
        assert_eq!(v.pointer("/a/b/1"), Some(&Value::from("x")));
        assert_eq!(v.pointer("/c~0~1d").and_then(Value::as_i64), Some(-3));
        assert_eq!(v.pointer("/a/b/01"), None);
        assert_eq!(v["a"]["b"][4].as_f64(), Some(1.5));
        assert!(v["nope"][3].is_null());
        assert_eq!(format!("{v:?}"), format!("{j:?}"));
        assert_eq!(v.to_string(), j.to_string());
        assert_eq!(serde_json::to_string(&v).unwrap(), j.to_string());
    }

    #[test]
    fn mapping_order_and_equality() {
        let mut m = Map::new();
        m.insert("a", Value::from(1i64));
        m.insert("b", Value::from(2i64));
        m.insert("c", Value::from(3i64));
        assert_eq!(m.insert("a", Value::from(9i64)), Some(Value::from(1i64)));
        assert_eq!(
            m.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let mut n = m.clone();
        n.remove("a");
        assert_eq!(n.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["c", "b"]);
        n.insert("a", Value::from(9i64));
        assert_eq!(Value::Object(m.clone()), Value::Object(n.clone()));
        n.insert("a", Value::from(8i64));
        assert_ne!(Value::Object(m), Value::Object(n));
        let many: Vec<(Str, Value)> = (0..40)
            .map(|i| (intern(&format!("k{i}")), Value::Null))
            .collect();
        assert!(!has_repeated_key(&many));
        let mut dup = many.clone();
        dup.push((intern("k7"), Value::Null));
        assert!(has_repeated_key(&dup));
        let rev: Map = many.iter().rev().cloned().collect();
        assert_eq!(Map::from_unique(many), rev);
    }
}
