//! The YAML document as a tree of located nodes: serde-saphyr resolves
//! anchors, aliases and `<<` merge keys, and every node keeps the line and
//! column where it was written plus, for scalars, the text as written (so
//! `replica: 1` or `version: 1.10` read as the strings `1` and `1.10`, as
//! Prometheus' YAML library reads them).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A position in the config text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, counting from 1.
    pub line: u64,
    /// Column, counting from 1.
    pub column: u64,
}

impl Pos {
    fn of(location: &Location) -> Option<Pos> {
        (location.line() > 0).then(|| Pos {
            line: location.line(),
            column: location.column(),
        })
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Where a node was written and, when it came through an alias or merge
/// key, where its content was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// Where the node is used.
    pub at: Option<Pos>,
    /// Where an aliased or merged node was defined, if elsewhere.
    pub defined: Option<Pos>,
}

/// A mapping key.
#[derive(Debug, Clone)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key was written.
    pub origin: Origin,
}

/// The content of a node.
#[derive(Debug, Clone)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// A non-string scalar (bool, integer, float): its typed value for typed
    /// targets, and `text` (as written) for string targets.
    Scalar { typed: Typed, text: String },
    /// A string scalar (quoted, block, or plain text that is no other type).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (merged keys after explicit ones).
    Map(Vec<(Key, Node)>),
}

/// The typed reading of a non-string scalar.
#[derive(Debug, Clone, Copy)]
pub enum Typed {
    /// `true` / `false` (and YAML 1.1's `yes`/`no`/`on`/`off`).
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A float.
    Float(f64),
}

/// One located node of the document.
#[derive(Debug, Clone)]
pub struct Node {
    /// The content.
    pub value: Value,
    /// Where it was written.
    pub origin: Origin,
}

impl Node {
    /// An empty mapping with no position, the document of an empty file.
    pub fn empty_map() -> Node {
        Node {
            value: Value::Map(Vec::new()),
            origin: Origin::default(),
        }
    }

    /// The entries if this node is a mapping.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` if this node is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The key entry named `key` if this node is a mapping holding it.
    pub fn key(&self, key: &str) -> Option<&Key> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k)
    }

    /// True for null, an empty sequence or an empty mapping.
    pub fn is_empty(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::Seq(items) => items.is_empty(),
            Value::Map(entries) => entries.is_empty(),
            _ => false,
        }
    }
}

/// A parse error from serde-saphyr: message and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What the parser said.
    pub message: String,
    /// Where, when known.
    pub pos: Option<Pos>,
}

/// Parses a YAML document into a located tree. An empty document (or one
/// holding only comments) is an empty mapping, as in Prometheus.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::AsString,
    };
    let parsed: Result<Option<RawNode>, _> = serde_saphyr::from_str_with_options(text, options);
    match parsed {
        Ok(Some(raw)) => Ok(raw.into_node(text)),
        Ok(None) => Ok(Node::empty_map()),
        Err(err) => Err(SyntaxError {
            message: clean_message(&err.to_string()),
            pos: err.location().as_ref().and_then(Pos::of),
        }),
    }
}

/// The parser's message without its own position (reported separately)
/// and without advice about the parser's options.
fn clean_message(message: &str) -> String {
    let mut msg = message.lines().next().unwrap_or_default().trim();
    if let Some(i) = msg.rfind(" at line ") {
        let tail = &msg[i + " at line ".len()..];
        if tail.split(", column ").all(|n| n.parse::<u64>().is_ok()) {
            msg = &msg[..i];
        }
    }
    if let Some(key) = msg
        .strip_prefix("duplicate mapping key: ")
        .and_then(|rest| rest.split(", set DuplicateKeyPolicy").next())
    {
        return format!("duplicate key `{key}`");
    }
    msg.to_owned()
}

/// The tree as serde-saphyr hands it over, before scalar text is recovered.
struct RawNode {
    kind: RawKind,
    referenced: Location,
    defined: Location,
}

enum RawKind {
    Null,
    Typed(Typed),
    Str(String),
    Seq(Vec<RawNode>),
    Map(Vec<(Spanned<String>, RawNode)>),
}

fn origin(referenced: &Location, defined: &Location) -> Origin {
    let at = Pos::of(referenced);
    let def = Pos::of(defined);
    Origin {
        at,
        defined: if def != at { def } else { None },
    }
}

impl RawNode {
    fn into_node(self, text: &str) -> Node {
        let value = match self.kind {
            RawKind::Null => Value::Null,
            RawKind::Str(s) => Value::Str(s),
            RawKind::Typed(typed) => Value::Scalar {
                text: source_text(text, &self.defined).unwrap_or_else(|| match typed {
                    Typed::Bool(b) => b.to_string(),
                    Typed::Int(i) => i.to_string(),
                    Typed::UInt(u) => u.to_string(),
                    Typed::Float(f) => f.to_string(),
                }),
                typed,
            },
            RawKind::Seq(items) => {
                Value::Seq(items.into_iter().map(|n| n.into_node(text)).collect())
            }
            RawKind::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = Key {
                            origin: origin(&k.referenced, &k.defined),
                            name: k.value,
                        };
                        (key, v.into_node(text))
                    })
                    .collect(),
            ),
        };
        Node {
            value,
            origin: origin(&self.referenced, &self.defined),
        }
    }
}

/// The scalar's text as written, from its byte span in the source.
fn source_text(text: &str, location: &Location) -> Option<String> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let raw = text.get(start..start.checked_add(len)?)?.trim();
    (!raw.is_empty()).then(|| raw.to_owned())
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<RawKindSeed>::deserialize(deserializer)?;
        Ok(RawNode {
            kind: spanned.value.0,
            referenced: spanned.referenced,
            defined: spanned.defined,
        })
    }
}

struct RawKindSeed(RawKind);

impl<'de> Deserialize<'de> for RawKindSeed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor).map(RawKindSeed)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = RawKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }

    fn visit_none<E>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawKind, D::Error> {
        d.deserialize_any(KindVisitor)
    }

    fn visit_bool<E>(self, v: bool) -> Result<RawKind, E> {
        Ok(RawKind::Typed(Typed::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<RawKind, E> {
        Ok(if v >= 0 {
            RawKind::Typed(Typed::UInt(v.unsigned_abs()))
        } else {
            RawKind::Typed(Typed::Int(v))
        })
    }

    fn visit_u64<E>(self, v: u64) -> Result<RawKind, E> {
        Ok(RawKind::Typed(Typed::UInt(v)))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<RawKind, E> {
        match (i64::try_from(v), u64::try_from(v)) {
            (_, Ok(u)) => Ok(RawKind::Typed(Typed::UInt(u))),
            (Ok(i), _) => Ok(RawKind::Typed(Typed::Int(i))),
            _ => Ok(RawKind::Typed(Typed::Float(v as f64))),
        }
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<RawKind, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => RawKind::Typed(Typed::UInt(u)),
            Err(_) => RawKind::Typed(Typed::Float(v as f64)),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<RawKind, E> {
        Ok(RawKind::Typed(Typed::Float(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<RawKind, E> {
        Ok(RawKind::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<RawKind, E> {
        Ok(RawKind::Str(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<RawKind, E> {
        Ok(RawKind::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<RawNode>()? {
            items.push(item);
        }
        Ok(RawKind::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<RawNode>()?;
            entries.push((key, value));
        }
        Ok(RawKind::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_text(node: &Node) -> &str {
        match &node.value {
            Value::Scalar { text, .. } => text,
            Value::Str(s) => s,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn keeps_scalar_text_and_positions() {
        let doc = parse("a: 1\nb: 1.10\nc: '007'\nd: yes\ne:\n").unwrap();
        assert_eq!(scalar_text(doc.get("a").unwrap()), "1");
        assert_eq!(scalar_text(doc.get("b").unwrap()), "1.10");
        assert_eq!(scalar_text(doc.get("c").unwrap()), "007");
        assert!(matches!(
            doc.get("d").unwrap().value,
            Value::Scalar {
                typed: Typed::Bool(true),
                ..
            }
        ));
        assert!(matches!(doc.get("e").unwrap().value, Value::Null));
        let b = doc.key("b").unwrap();
        assert_eq!(b.origin.at, Some(Pos { line: 2, column: 1 }));
        assert_eq!(
            doc.get("b").unwrap().origin.at,
            Some(Pos { line: 2, column: 4 })
        );
    }

    #[test]
    fn resolves_merge_keys_with_explicit_keys_winning() {
        let doc = parse("base: &b\n  x: 1\n  y: 2\nuse:\n  <<: *b\n  y: 3\n").unwrap();
        let used = doc.get("use").unwrap();
        assert_eq!(scalar_text(used.get("x").unwrap()), "1");
        assert_eq!(scalar_text(used.get("y").unwrap()), "3");
        let x = used.key("x").unwrap();
        assert_eq!(x.origin.defined, Some(Pos { line: 2, column: 3 }));
    }

    #[test]
    fn empty_document_is_empty_map() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.pos.is_some(), "{err:?}");
        let dup = parse("a: 1\na: 2\n").unwrap_err();
        assert!(dup.message.contains("duplicate"), "{dup:?}");
    }
}
