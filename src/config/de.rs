//! A serde `Deserializer` over the located YAML tree ([`super::yaml::Node`])
//! that knows the key path of every value, so any decoding error (unknown
//! key, wrong type, bad duration) names the path and the line it happened at.
//! Null reads the way Prometheus' YAML library reads it: as an empty string,
//! sequence or mapping, or as an absent optional value.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    Visitor,
};

use super::yaml::{Key, Node, Origin, Typed, Value};

/// A key path while decoding, as a linked list on the stack.
#[derive(Clone, Copy)]
pub enum KeyPath<'a> {
    /// The document root.
    Root,
    /// A mapping key below a parent.
    Key(&'a KeyPath<'a>, &'a str),
    /// A sequence index below a parent.
    Index(&'a KeyPath<'a>, usize),
}

impl fmt::Display for KeyPath<'_> {
    /// `scrape_configs[0].static_configs[1].targets`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPath::Root => Ok(()),
            KeyPath::Key(parent, key) => {
                if matches!(parent, KeyPath::Root) {
                    write!(f, "{key}")
                } else {
                    write!(f, "{parent}.{key}")
                }
            }
            KeyPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// A decoding problem, located once it passes the node it happened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The key path, e.g. `scrape_configs[0].scrape_interval`.
    pub path: Option<String>,
    /// Where the offending key or value was written.
    pub origin: Option<Origin>,
    /// What is wrong.
    pub message: String,
    /// A suggestion, e.g. the key that was probably meant.
    pub hint: Option<String>,
}

impl DecodeError {
    fn new(message: impl Into<String>) -> DecodeError {
        DecodeError {
            path: None,
            origin: None,
            message: message.into(),
            hint: None,
        }
    }

    fn locate(mut self, path: &KeyPath<'_>, origin: &Origin) -> DecodeError {
        if self.path.is_none() {
            self.path = Some(path.to_string());
            self.origin = Some(*origin);
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.as_deref() {
            Some(path) if !path.is_empty() => write!(f, "{path}: {}", self.message)?,
            _ => f.write_str(&self.message)?,
        }
        if let Some(at) = self.origin.and_then(|o| o.at) {
            write!(f, " ({at})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError::new(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DecodeError::new(format!(
            "expected {}, got {}",
            describe_expected(&exp.to_string()),
            describe_unexpected(&unexp)
        ))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DecodeError::new(format!(
            "expected {}, got {}",
            describe_expected(&exp.to_string()),
            describe_unexpected(&unexp)
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DecodeError::new(format!(
            "invalid value {variant:?}, expected one of: {}",
            expected.join(", ")
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut err = DecodeError::new("unknown key");
        err.hint = closest(field, expected).map(|k| format!("did you mean `{k}`?"));
        err
    }

    fn missing_field(field: &'static str) -> Self {
        DecodeError::new(format!("missing required key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DecodeError::new(format!("key `{field}` given twice"))
    }
}

fn describe_expected(exp: &str) -> String {
    match exp {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a map" => "a mapping".into(),
        e if e.starts_with("struct ") => "a mapping".into(),
        e => e.into(),
    }
}

fn describe_unexpected(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Unit => "null".into(),
        Unexpected::Map => "a mapping".into(),
        Unexpected::Seq => "a sequence".into(),
        Unexpected::Signed(v) => format!("integer {v}"),
        Unexpected::Unsigned(v) => format!("integer {v}"),
        Unexpected::Float(v) => format!("number {v}"),
        other => other.to_string(),
    }
}

/// The expected key within edit distance 2 of `given`, if any.
pub fn closest(given: &str, expected: &[&'static str]) -> Option<&'static str> {
    expected
        .iter()
        .map(|k| (edit_distance(given, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Decodes `node` (the document root) into `T`, locating any error.
#[cfg(test)]
pub fn decode<T: de::DeserializeOwned>(node: &Node) -> Result<T, DecodeError> {
    decode_at(node, &KeyPath::Root)
}

/// Decodes the subtree `node`, found at `path`, into `T`.
pub fn decode_at<T: de::DeserializeOwned>(
    node: &Node,
    path: &KeyPath<'_>,
) -> Result<T, DecodeError> {
    T::deserialize(NodeDe::new(node, path)).map_err(|e| e.locate(path, &node.origin))
}

/// The deserializer for one node.
pub struct NodeDe<'a> {
    node: &'a Node,
    path: &'a KeyPath<'a>,
}

impl<'a> NodeDe<'a> {
    /// A deserializer for `node`, found at `path`.
    pub fn new(node: &'a Node, path: &'a KeyPath<'a>) -> NodeDe<'a> {
        NodeDe { node, path }
    }

    fn scalar_text(&self) -> Option<&'a str> {
        match &self.node.value {
            Value::Null => Some(""),
            Value::Str(s) => Some(s),
            Value::Scalar { text, .. } => Some(text),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    fn unexpected(&self) -> Unexpected<'a> {
        match &self.node.value {
            Value::Null => Unexpected::Unit,
            Value::Str(s) => Unexpected::Str(s),
            Value::Scalar { typed, .. } => match typed {
                Typed::Bool(b) => Unexpected::Bool(*b),
                Typed::Int(i) => Unexpected::Signed(*i),
                Typed::UInt(u) => Unexpected::Unsigned(*u),
                Typed::Float(f) => Unexpected::Float(*f),
            },
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }
}

const EMPTY_SEQ: &[Node] = &[];
const EMPTY_MAP: &[(Key, Node)] = &[];

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Str(s) => visitor.visit_str(s),
            Value::Scalar { typed, .. } => match *typed {
                Typed::Bool(b) => visitor.visit_bool(b),
                Typed::Int(i) => visitor.visit_i64(i),
                Typed::UInt(u) => visitor.visit_u64(u),
                Typed::Float(f) => visitor.visit_f64(f),
            },
            Value::Seq(items) => visitor.visit_seq(Seq::new(items, self.path)),
            Value::Map(entries) => visitor.visit_map(Map::new(entries, self.path)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.scalar_text() {
            Some(text) => visitor.visit_str(text),
            None => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(Seq::new(items, self.path)),
            Value::Null => visitor.visit_seq(Seq::new(EMPTY_SEQ, self.path)),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(Map::new(entries, self.path)),
            Value::Null => visitor.visit_map(Map::new(EMPTY_MAP, self.path)),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match self.scalar_text() {
            Some(text) => visitor.visit_enum(text.into_deserializer()),
            None => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf
    }
}

struct Seq<'a> {
    items: &'a [Node],
    next: usize,
    path: &'a KeyPath<'a>,
}

impl<'a> Seq<'a> {
    fn new(items: &'a [Node], path: &'a KeyPath<'a>) -> Seq<'a> {
        Seq {
            items,
            next: 0,
            path,
        }
    }
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        let Some(node) = self.items.get(self.next) else {
            return Ok(None);
        };
        let path = KeyPath::Index(self.path, self.next);
        self.next += 1;
        seed.deserialize(NodeDe::new(node, &path))
            .map(Some)
            .map_err(|e| e.locate(&path, &node.origin))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.next)
    }
}

struct Map<'a> {
    entries: &'a [(Key, Node)],
    next: usize,
    path: &'a KeyPath<'a>,
}

impl<'a> Map<'a> {
    fn new(entries: &'a [(Key, Node)], path: &'a KeyPath<'a>) -> Map<'a> {
        Map {
            entries,
            next: 0,
            path,
        }
    }
}

impl<'de> MapAccess<'de> for Map<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, _)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        let path = KeyPath::Key(self.path, &key.name);
        seed.deserialize(key.name.as_str().into_deserializer())
            .map(Some)
            .map_err(|e: DecodeError| e.locate(&path, &key.origin))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let Some((key, node)) = self.entries.get(self.next) else {
            return Err(DecodeError::new(
                "value requested past the end of a mapping",
            ));
        };
        self.next += 1;
        let path = KeyPath::Key(self.path, &key.name);
        seed.deserialize(NodeDe::new(node, &path))
            .map_err(|e| e.locate(&path, &node.origin))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.next)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::config::yaml::parse;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        items: Vec<Inner>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        targets: Vec<String>,
        #[serde(default)]
        limit: Option<u64>,
    }

    fn err(text: &str) -> String {
        decode::<Outer>(&parse(text).unwrap())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_names_path_line_and_suggestion() {
        assert_eq!(
            err("items:\n  - targets: [a]\n  - tragets: [b]\n"),
            "items[1].tragets: unknown key (line 3, column 5); did you mean `targets`?"
        );
    }

    #[test]
    fn type_errors_name_the_value() {
        assert_eq!(
            err("items:\n  - targets: [a]\n    limit: many\n"),
            r#"items[0].limit: expected a non-negative integer, got string "many" (line 3, column 12)"#
        );
        assert_eq!(
            err("items: {a: 1}\n"),
            "items: expected a sequence, got a mapping (line 1, column 8)"
        );
    }

    #[test]
    fn missing_key_points_at_the_mapping() {
        assert_eq!(
            err("items:\n  - limit: 1\n"),
            "items[0]: missing required key `targets` (line 2, column 5)"
        );
    }

    #[test]
    fn scalars_read_as_written_into_strings() {
        let doc = parse("items: []\nlabels: {replica: 1, v: 1.10, b: yes, n: ~}\n").unwrap();
        let outer: Outer = decode(&doc).unwrap();
        assert_eq!(outer.labels["replica"], "1");
        assert_eq!(outer.labels["v"], "1.10");
        assert_eq!(outer.labels["b"], "yes");
        assert_eq!(outer.labels["n"], "");
    }

    #[test]
    fn null_sequence_is_empty() {
        let doc = parse("items:\n  - targets:\n").unwrap();
        let outer: Outer = decode(&doc).unwrap();
        assert!(outer.items[0].targets.is_empty());
        assert_eq!(outer.items[0].limit, None);
    }
}
