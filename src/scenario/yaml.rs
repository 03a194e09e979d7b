//! Loading scenario YAML into typed structs, with error messages that point at the source.
//!
//! Loading happens in three steps:
//!
//! 1. [`parse`] turns the file into a [`Located`] tree: every value and every mapping key
//!    remembers its line and column. Syntax errors, encoding problems and pathological
//!    input (huge files, deep nesting, alias bombs) are refused here.
//! 2. [`apply_override`] edits the tree for each `--set path=value` given on the command line.
//!    Nodes it creates remember the assignment, so later errors can name it.
//! 3. [`from_tree`] deserializes the tree into any `serde::Deserialize` type. Every error it
//!    reports carries the file, line, column and dotted field path of the offending node,
//!    e.g. `scenario.yaml:4:12: services[0].replicas: expected u32, found the string "two"`.
//!
//! [`load`] runs all three. The tree is kept so that checks made after deserialization can
//! still point at the source with [`error_at`] / [`locate`].
//!
//! Going through our own tree (rather than deserializing straight from the parser) is what
//! lets every error, including `Error::custom` from nested `Deserialize` impls, carry the
//! path and location of the node being read, and lets overrides be applied before typing.

use serde::Deserialize;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, Expected, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde_saphyr::Spanned;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// Largest scenario file accepted (16 MiB); a real scenario is a few kilobytes.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Deepest nesting of lists and mappings accepted; scenarios need fewer than ten levels,
/// and the bound keeps recursive code far from the end of the stack.
pub const MAX_DEPTH: usize = 64;

/// Most values (scalars, lists, mappings) a file may hold.
const MAX_NODES: usize = 250_000;

/// Most parser events that aliases (`*name`) may replay in total, against alias bombs.
const MAX_ALIAS_EVENTS: usize = 50_000;

/// Most segments in an override path; with [`MAX_DEPTH`] this bounds the tree's depth.
const MAX_OVERRIDE_SEGMENTS: usize = 32;

/// Longest string quoted in full inside an error message.
const MAX_QUOTED_CHARS: usize = 60;

// ---------------------------------------------------------------------------------------
// The located tree
// ---------------------------------------------------------------------------------------

/// A position in the scenario file.
///
/// Lines and columns are 1-based. Line 0 marks a node that came from a `--set` override
/// rather than from the file; [`Located::origin`] then names the assignment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Loc {
    /// 1-based line, or 0 for a value set by an override.
    pub line: u32,
    /// 1-based column (in characters), or 0 for a value set by an override.
    pub col: u32,
}

impl Loc {
    /// The location given to nodes created by a `--set` override.
    pub const OVERRIDE: Loc = Loc { line: 0, col: 0 };

    /// Whether this location comes from an override rather than the file.
    pub fn is_override(self) -> bool {
        self.line == 0
    }
}

/// A YAML value, with locations on every child.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` or `false` (YAML 1.1 spellings such as `yes` stay strings).
    Bool(bool),
    /// An integer; integers beyond `i64` are kept as [`Node::Float`].
    Int(i64),
    /// A floating-point number (always finite).
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<Located>),
    /// A mapping, in file order (duplicate keys are refused when parsing).
    Map(Vec<(Key, Located)>),
}

/// A mapping key: its text and where it was written.
///
/// Keys that are numbers or booleans keep their text as written (`1`, `true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key's text.
    pub name: String,
    /// Where the key was written.
    pub loc: Loc,
}

/// A value together with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Located {
    /// The value.
    pub node: Node,
    /// Where the value starts in the file ([`Loc::OVERRIDE`] when set by an override).
    pub loc: Loc,
    /// The `--set` assignment that created or replaced this value, if any.
    ///
    /// An `Arc` because every node of an overriding value shares the same text.
    pub origin: Option<Arc<str>>,
}

impl Located {
    /// A value read from the file at `loc`.
    pub fn new(node: Node, loc: Loc) -> Self {
        Located {
            node,
            loc,
            origin: None,
        }
    }

    /// The value of the mapping entry `key`, if this is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Located> {
        match &self.node {
            Node::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// An error in a scenario file, or in a `--set` override of it.
///
/// Displayed as `FILE:LINE:COL: FIELD: MESSAGE`, for example
/// `scenario.yaml:4:12: services[0].replicas: expected u32, found the string "two"`.
/// The `FIELD: ` part is left out when `field` is empty.
///
/// `line` 0 means the error has no place in the file; it is then displayed as
/// `FILE: FIELD: MESSAGE`. Errors about a value set on the command line are of that kind,
/// and for them this module writes the assignment into `file`, so they read
/// `scenario.yaml (--set services.chat.replicas=x): services[0].replicas: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{message}", place(.file, *.line, *.col), field_prefix(.field))]
pub struct LoadError {
    /// The file name; for an error about a `--set` value, followed by ` (--set ASSIGNMENT)`.
    pub file: String,
    /// 1-based line, or 0 when the error has no place in the file (e.g. a `--set` value).
    pub line: u32,
    /// 1-based column, or 0 together with `line`.
    pub col: u32,
    /// Dotted path of the offending field, e.g. `services[0].batching.dynamic.max_batch`;
    /// empty when the error concerns the whole file.
    pub field: String,
    /// What went wrong and what was expected.
    pub message: String,
}

impl LoadError {
    /// An error about a whole file or a command-line flag, with no line to point at.
    pub fn unplaced(
        file: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        LoadError {
            file: file.into(),
            line: 0,
            col: 0,
            field: field.into(),
            message: message.into(),
        }
    }

    /// An error at `loc`; `origin` is the `--set` assignment behind an override node.
    fn at(file: &str, loc: Loc, origin: Option<&str>, field: &str, message: String) -> Self {
        let file = match origin {
            Some(assignment) if loc.is_override() => format!("{file} (--set {assignment})"),
            _ => file.to_string(),
        };
        LoadError {
            file,
            line: loc.line,
            col: loc.col,
            field: field.to_string(),
            message,
        }
    }
}

fn place(file: &str, line: u32, col: u32) -> String {
    if line > 0 {
        format!("{file}:{line}:{col}: ")
    } else {
        format!("{file}: ")
    }
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Parses a scenario file into a located tree whose top level is a mapping.
///
/// Refuses files over [`MAX_FILE_BYTES`], bytes that are not UTF-8 (or NUL bytes), an empty
/// or comments-only file, a top level that is not a mapping, several documents, syntax
/// errors, nesting deeper than [`MAX_DEPTH`] and alias expansion beyond a fixed budget.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Located, LoadError> {
    parse_document(file, bytes, "scenario")
}

/// Like [`parse`], for a document of another `kind` (`snapshot`): its messages name the
/// kind, so that an empty HPA snapshot is not called an empty scenario.
pub fn parse_document(file: &str, bytes: &[u8], kind: &str) -> Result<Located, LoadError> {
    let start = Loc { line: 1, col: 1 };
    if bytes.len() > MAX_FILE_BYTES {
        return Err(LoadError::at(
            file,
            start,
            None,
            "",
            format!(
                "the file is {} bytes, over the 16 MiB limit ({MAX_FILE_BYTES} bytes) for {kind} files",
                bytes.len()
            ),
        ));
    }
    let text = decode(bytes).map_err(|(loc, msg)| LoadError::at(file, loc, None, "", msg))?;
    if is_blank(text) {
        return Err(LoadError::at(
            file,
            start,
            None,
            "",
            format!("the {kind} file is empty"),
        ));
    }
    let root = parse_text(text).map_err(|(loc, msg)| {
        let msg = msg.replace("a scenario file must", &format!("a {kind} file must"));
        LoadError::at(file, loc, None, "", msg)
    })?;
    match &root.node {
        Node::Map(_) => Ok(root),
        other => Err(LoadError::at(
            file,
            root.loc,
            None,
            "",
            format!(
                "the top level of a {kind} must be a mapping of `key: value` settings, found {}",
                describe_node(other)
            ),
        )),
    }
}

/// Checks the bytes are UTF-8 text without NUL bytes; errors give the first bad position.
fn decode(bytes: &[u8]) -> Result<&str, (Loc, String)> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let good = e.valid_up_to();
            // The prefix up to `good` is valid UTF-8 by definition.
            let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
            return Err((
                position_after(prefix),
                format!(
                    "the file is not UTF-8 text (byte 0x{:02X} is invalid here); is it a binary file?",
                    bytes[good]
                ),
            ));
        }
    };
    if let Some(nul) = text.find('\0') {
        return Err((
            position_after(&text[..nul]),
            "the file contains a NUL byte; is it a binary file?".to_string(),
        ));
    }
    Ok(text)
}

/// The 1-based line and column just after `prefix`.
fn position_after(prefix: &str) -> Loc {
    let line = prefix.matches('\n').count() + 1;
    let last_line = prefix.rsplit('\n').next().unwrap_or("");
    Loc {
        line: saturate(line as u64),
        col: saturate(last_line.chars().count() as u64 + 1),
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Whether the text holds nothing but blank lines, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let t = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// The parser options: hard bounds on everything an input can make us allocate or recurse.
fn saphyr_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_EVENTS;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    // `no`, `y` or `off` silently turning into booleans surprises people; only true/false.
    options.strict_booleans = true;
    // A `~:` key becomes the text `~` instead of a confusing "null into string" error.
    options.null_as_string = true;
    // We report one-line messages with our own location prefix.
    options.with_snippet = false;
    // A tag (`!!python/object`, `!include`) would otherwise be dropped without a word.
    options.reject_unsupported_tags = true;
    options.reject_tagged_field_names = true;
    // `.nan` and `.inf` reach the tree as text, so that the field that cannot take them is
    // the one that refuses them, by name (see [`non_finite`]).
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
    options
}

/// Whether text is how the parser passes on a YAML `.nan` or `.inf` (its canonical spelling:
/// see the `non_finite_float_policy` above); a field that wants a number refuses it by name.
fn non_finite(text: &str) -> bool {
    matches!(text, ".nan" | ".inf" | "-.inf")
}

/// Stack for the parsing thread. The parser recurses once per nesting level and a debug
/// build spends tens of kilobytes per level, more than a 2 MiB test thread has at
/// [`MAX_DEPTH`]; the memory is only reserved, not used, unless the input is that deep.
const PARSE_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Parses any single YAML document (used for files and for override values).
///
/// Runs on its own thread with a large stack, so deep input cannot overflow the caller's
/// stack, and a panic inside the parser becomes an error instead of taking us down.
fn parse_text(text: &str) -> Result<Located, (Loc, String)> {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("yaml-parse".to_string())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(scope, || parse_text_here(text));
        match spawned {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err((
                    Loc { line: 1, col: 1 },
                    "internal error: the YAML parser failed on this input".to_string(),
                ))
            }),
            // No thread to be had (resource limits): parse here; MAX_DEPTH still bounds it.
            Err(_) => parse_text_here(text),
        }
    })
}

fn parse_text_here(text: &str) -> Result<Located, (Loc, String)> {
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, saphyr_options()) {
        Ok(raw) => Ok(convert(raw)),
        Err(e) => Err(saphyr_error(&e, text)),
    }
}

/// Turns a serde-saphyr error into a location and a short, one-line message.
fn saphyr_error(err: &serde_saphyr::Error, text: &str) -> (Loc, String) {
    use serde_saphyr::Error as E;
    use serde_saphyr::MessageFormatter;
    use serde_saphyr::budget::BudgetBreach as B;

    let loc = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| Loc {
            line: saturate(l.line()),
            col: saturate(l.column().max(1)),
        })
        .unwrap_or(Loc { line: 1, col: 1 });
    let mut inner = err;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    let mut message = match inner {
        E::MultipleDocuments { .. } => {
            "a second YAML document starts here; a scenario file must hold exactly one document"
                .to_string()
        }
        E::DuplicateMappingKey { key: Some(k), .. } => {
            format!("the key `{}` appears twice in this mapping", clip(k))
        }
        E::Unexpected {
            expected: "string scalar",
            ..
        } => "a mapping key must be a plain name or number, not a list or mapping".to_string(),
        E::Budget { breach, .. } => match breach {
            B::Depth { .. } => {
                format!("the document is nested deeper than the limit of {MAX_DEPTH} levels")
            }
            B::Nodes { .. } => {
                format!("the document holds more than the limit of {MAX_NODES} values")
            }
            B::Aliases { .. } | B::AliasAnchorRatio { .. } => {
                "the document uses too many aliases (`*name`)".to_string()
            }
            other => format!("the document is too large or too complex ({other:?})"),
        },
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => {
            format!("aliases (`*name`) expand to more than the limit of {MAX_ALIAS_EVENTS} values")
        }
        E::UnsupportedTag { tag, .. } | E::TaggedStructFieldName { tag, .. } => format!(
            "the YAML tag `{}` is not supported: a scenario holds plain values (numbers, text, \
             lists and mappings); remove the tag",
            clip(tag)
        ),
        other => serde_saphyr::UserMessageFormatter
            .format_message(other)
            .into_owned(),
    };
    // Errors about well-formed text (limits, tags, duplicate keys) get no syntax hint.
    let syntax = !matches!(
        inner,
        E::Budget { .. }
            | E::AliasReplayLimitExceeded { .. }
            | E::AliasExpansionLimitExceeded { .. }
            | E::AliasReplayStackDepthExceeded { .. }
            | E::AliasReplayCounterOverflow { .. }
            | E::UnsupportedTag { .. }
            | E::TaggedStructFieldName { .. }
            | E::DuplicateMappingKey { .. }
            | E::MultipleDocuments { .. }
            | E::NonFiniteFloat { .. }
            | E::UnknownAnchor { .. }
    );
    message = one_line(&message);
    if message.contains("recursion limit exceeded") {
        message = format!("the document is nested too deeply (the limit is {MAX_DEPTH} levels)");
    }
    if line_has_tab_indent(text, loc.line) {
        message =
            "this line is indented with a tab; YAML allows only spaces for indentation".to_string();
    } else if message.contains("tab") {
        message.push_str(" (YAML does not allow tabs for indentation; use spaces)");
    } else if syntax
        && let Some((open, at)) = unclosed_bracket(text, loc)
        && !message.contains("unclosed")
    {
        // The parser often notices a missing `]` only lines later, with a puzzling message.
        message.push_str(&format!(
            " (is the `{open}` at line {}, column {} missing its closing `{}`?)",
            at.line,
            at.col,
            if open == '[' { ']' } else { '}' }
        ));
    }
    // The parser places a tag's error at the value after it: point at the tag itself.
    let loc = match inner {
        E::UnsupportedTag { tag, .. } | E::TaggedStructFieldName { tag, .. } => {
            tag_position(text, loc, tag).unwrap_or(loc)
        }
        _ => loc,
    };
    (loc, message)
}

/// Where `tag` is written on the line of `at`, before `at` (its last such place).
fn tag_position(text: &str, at: Loc, tag: &str) -> Option<Loc> {
    let line = text.lines().nth((at.line as usize).checked_sub(1)?)?;
    let before: String = line.chars().take(at.col as usize).collect();
    // The tag as written may use the `!!` shorthand of the resolved `tag:yaml.org,2002:`.
    let short = tag.replace("tag:yaml.org,2002:", "!!");
    let i = before.rfind(&short).or_else(|| before.rfind(tag))?;
    Some(Loc {
        line: at.line,
        col: saturate(before[..i].chars().count() as u64 + 1),
    })
}

/// The innermost `[` or `{` still open where the error was found, skipping quoted text and
/// comments; a rough scan, used only to add a hint to a syntax error.
fn unclosed_bracket(text: &str, upto: Loc) -> Option<(char, Loc)> {
    let mut stack: Vec<(char, Loc)> = Vec::new();
    let mut quote: Option<char> = None;
    for (i, line) in text.lines().enumerate().take(upto.line as usize) {
        let line_no = saturate(i as u64 + 1);
        let mut prev = ' ';
        let mut chars = line.chars().enumerate().peekable();
        while let Some((j, c)) = chars.next() {
            let here = Loc {
                line: line_no,
                col: saturate(j as u64 + 1),
            };
            if line_no == upto.line && here.col >= upto.col {
                break;
            }
            match (quote, c) {
                (Some('"'), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => {
                    // `''` inside single quotes is an escaped quote.
                    if q == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                (Some(_), _) => {}
                (None, '"' | '\'') if !prev.is_alphanumeric() => quote = Some(c),
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') => stack.push((c, here)),
                (None, ']' | '}') => {
                    stack.pop();
                }
                _ => {}
            }
            prev = c;
        }
    }
    stack.pop()
}

/// Keeps the first line of a parser message, without control characters or a location suffix.
fn one_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or("").trim();
    let first = match first.rfind(" at line ") {
        Some(i) if first[i..].contains("column") => &first[..i],
        _ => first,
    };
    let cleaned: String = first
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.is_empty() {
        "invalid YAML".to_string()
    } else {
        cleaned
    }
}

fn line_has_tab_indent(text: &str, line: u32) -> bool {
    let Some(index) = (line as usize).checked_sub(1) else {
        return false;
    };
    text.lines().nth(index).is_some_and(|l| {
        l.chars()
            .take_while(|c| c.is_whitespace())
            .any(|c| c == '\t')
    })
}

/// The parser's view of a value; converted to [`Located`] right after parsing.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<String>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        if v.is_finite() {
            Ok(Raw::Float(v))
        } else {
            Err(E::custom(format!("the number {v} is not finite")))
        }
    }
    fn visit_char<E>(self, v: char) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Raw::Str(s.to_string())),
            Err(_) => Err(E::custom("binary (`!!binary`) values are not supported")),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

fn loc_of<T>(s: &Spanned<T>) -> Loc {
    // Prefer where a value is used (an alias site) over where it was defined.
    [s.referenced, s.defined]
        .iter()
        .find(|l| l.line() > 0)
        .map(|l| Loc {
            line: saturate(l.line()),
            col: saturate(l.column().max(1)),
        })
        .unwrap_or(Loc { line: 1, col: 1 })
}

/// Converts the parser's tree; recursion is bounded by [`MAX_DEPTH`].
fn convert(raw: Spanned<Raw>) -> Located {
    let loc = loc_of(&raw);
    let node = match raw.value {
        Raw::Null => Node::Null,
        Raw::Bool(b) => Node::Bool(b),
        Raw::Int(i) => Node::Int(i),
        Raw::Float(f) => Node::Float(f),
        Raw::Str(s) => Node::Str(s),
        Raw::Seq(items) => Node::Seq(items.into_iter().map(convert).collect()),
        Raw::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = Key {
                        loc: loc_of(&k),
                        name: k.value,
                    };
                    (key, convert(v))
                })
                .collect(),
        ),
    };
    Located::new(node, loc)
}

// ---------------------------------------------------------------------------------------
// Describing values in messages
// ---------------------------------------------------------------------------------------

/// Shortens long strings for quoting in messages.
fn clip(s: &str) -> String {
    if s.chars().count() > MAX_QUOTED_CHARS {
        let mut out: String = s.chars().take(MAX_QUOTED_CHARS).collect();
        out.push('…');
        out
    } else {
        s.to_string()
    }
}

fn describe_node(node: &Node) -> String {
    match node {
        Node::Null => "an empty value (null)".to_string(),
        Node::Bool(b) => format!("the boolean `{b}`"),
        Node::Int(i) => format!("the number {i}"),
        Node::Float(f) => format!("the number {f}"),
        Node::Str(s) => format!("the string {:?}", clip(s)),
        Node::Seq(items) => format!("a list of {} items", items.len()),
        Node::Map(entries) => format!("a mapping with {} keys", entries.len()),
    }
}

fn describe_unexpected(u: &Unexpected<'_>) -> String {
    match u {
        Unexpected::Unit => "an empty value (null)".to_string(),
        Unexpected::Bool(b) => format!("the boolean `{b}`"),
        Unexpected::Signed(i) => format!("the number {i}"),
        Unexpected::Unsigned(i) => format!("the number {i}"),
        Unexpected::Float(f) => format!("the number {f}"),
        Unexpected::Char(c) => format!("the character {c:?}"),
        Unexpected::Str(s) => format!("the string {:?}", clip(s)),
        Unexpected::Seq => "a list".to_string(),
        Unexpected::Map => "a mapping".to_string(),
        Unexpected::Other(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn unexpected(node: &Node) -> Unexpected<'_> {
    match node {
        Node::Null => Unexpected::Unit,
        Node::Bool(b) => Unexpected::Bool(*b),
        Node::Int(i) => Unexpected::Signed(*i),
        Node::Float(f) => Unexpected::Float(*f),
        Node::Str(s) => Unexpected::Str(s),
        Node::Seq(_) => Unexpected::Seq,
        Node::Map(_) => Unexpected::Map,
    }
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------
// Did-you-mean
// ---------------------------------------------------------------------------------------

/// The candidate closest to `word`, if it is close enough to be a likely typo.
///
/// Uses the optimal-string-alignment (Damerau–Levenshtein) distance, ignoring case, and
/// accepts a candidate within `max(2, len / 3)` edits of `word` (`len` in characters) as
/// long as the two have something in common. Ties go to the earlier candidate.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word: Vec<char> = word.to_lowercase().chars().collect();
    let limit = (word.len() / 3).max(2);
    let mut best: Option<(usize, &'a str)> = None;
    for &candidate in candidates {
        let cand: Vec<char> = candidate.to_lowercase().chars().collect();
        let d = osa_distance(&word, &cand);
        // `d < len` stops two-letter words matching every other two-letter word.
        let plausible = d <= limit && d < word.len().max(cand.len());
        if plausible && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus swaps of adjacent characters.
fn osa_distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = v;
        }
    }
    d[a.len() * width + b.len()]
}

fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    suggest(word, candidates)
        .map(|s| format!(": did you mean `{s}`?"))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Typed deserialization from the tree
// ---------------------------------------------------------------------------------------

/// Deserializes a value of type `T` from a located tree.
///
/// Errors name the file, the position and the dotted field path of the node that was
/// being read, including errors raised by nested `Deserialize` impls via `Error::custom`.
pub fn from_tree<T: DeserializeOwned>(file: &str, root: &Located) -> Result<T, LoadError> {
    T::deserialize(De::new(root, Rc::from(""))).map_err(|e| {
        let at = e.at.unwrap_or_else(|| At::of(root, &Rc::from("")));
        LoadError::at(file, at.loc, at.origin.as_deref(), &at.path, e.message)
    })
}

/// Where an error arose.
#[derive(Clone, Debug)]
struct At {
    loc: Loc,
    origin: Option<Arc<str>>,
    path: Rc<str>,
}

impl At {
    fn of(node: &Located, path: &Rc<str>) -> At {
        At {
            loc: node.loc,
            origin: node.origin.clone(),
            path: path.clone(),
        }
    }
}

/// Whether an error should point at the key that was read last rather than the mapping.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Plain,
    DuplicateField,
}

/// The error type of the tree deserializer: a message plus, once known, where it arose.
///
/// Errors are created without a location (serde's `Error` constructors cannot know it) and
/// the innermost deserializer that sees one fills in its node's location and path.
#[derive(Debug)]
struct DeError {
    message: String,
    kind: Kind,
    at: Option<At>,
}

impl DeError {
    fn new(message: String) -> Self {
        DeError {
            message,
            kind: Kind::Plain,
            at: None,
        }
    }

    fn located(mut self, at: impl FnOnce() -> At) -> Self {
        if self.at.is_none() {
            self.at = Some(at());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        let mut message = format!("expected {exp}, found {}", describe_unexpected(&unexp));
        // A number or boolean where text is wanted is usually just missing quotes.
        let scalar = matches!(
            unexp,
            Unexpected::Signed(_)
                | Unexpected::Unsigned(_)
                | Unexpected::Float(_)
                | Unexpected::Bool(_)
        );
        if scalar && exp.to_string() == "a string" {
            message.push_str(" (put it in quotes if you mean text)");
        }
        DeError::new(message)
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        DeError::new(format!(
            "expected {exp}, found {}",
            describe_unexpected(&unexp)
        ))
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        DeError::new(format!("expected {exp}, found {len} items"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(format!(
            "unknown variant `{}`{} (expected one of {})",
            clip(variant),
            did_you_mean(variant, expected),
            backticked(expected)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let list = if expected.is_empty() {
            "no fields are allowed here".to_string()
        } else {
            format!("expected one of {}", backticked(expected))
        };
        DeError::new(format!(
            "unknown field `{}`{} ({list})",
            clip(field),
            did_you_mean(field, expected)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(format!("missing field `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError {
            message: format!("the field `{field}` is given twice"),
            kind: Kind::DuplicateField,
            at: None,
        }
    }
}

fn child_key(path: &str, key: &str) -> Rc<str> {
    if path.is_empty() {
        Rc::from(key)
    } else {
        Rc::from(format!("{path}.{key}"))
    }
}

fn child_index(path: &str, index: usize) -> Rc<str> {
    Rc::from(format!("{path}[{index}]"))
}

/// Deserializer over one node of the tree; `path` is its dotted field path.
struct De<'a> {
    node: &'a Located,
    path: Rc<str>,
}

impl<'a> De<'a> {
    fn new(node: &'a Located, path: Rc<str>) -> Self {
        De { node, path }
    }

    fn at(&self) -> At {
        At::of(self.node, &self.path)
    }

    fn error(&self, message: String) -> DeError {
        DeError::new(message).located(|| self.at())
    }

    fn invalid(&self, exp: &dyn Expected) -> DeError {
        <DeError as de::Error>::invalid_type(unexpected(&self.node.node), exp).located(|| self.at())
    }

    /// Locates an error coming back from a visitor at this node.
    fn finish<T>(node: &Located, path: &Rc<str>, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.located(|| At::of(node, path)))
    }

    /// Refuses `.nan` and `.inf` where a number is wanted, saying so (rather than "found
    /// a string").
    fn finite(&self) -> Result<(), DeError> {
        match &self.node.node {
            Node::Str(s) if non_finite(s) => Err(self.error(format!(
                "{} must be a finite number, found `{s}`",
                self.name()
            ))),
            _ => Ok(()),
        }
    }

    /// The field's own name (the last step of its path), for messages.
    fn name(&self) -> &str {
        self.path
            .rsplit('.')
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or("the value")
    }

    /// The node as an integer in `min..=max`; integral floats are accepted.
    fn integer(&self, min: i128, max: i128, exp: &dyn Expected) -> Result<i128, DeError> {
        self.finite()?;
        let v = match self.node.node {
            Node::Int(i) => i128::from(i),
            // Exact for every integral f64 below 1e38, so the range check below is exact too.
            Node::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38 => f as i128,
            _ => return Err(self.invalid(exp)),
        };
        if v < min || v > max {
            // In the field's own words; a machine type's range is no help to a reader.
            let name = self.name();
            return Err(self.error(if v < 0 && min == 0 {
                format!("{name} must be a non-negative whole number, found {v}")
            } else if max >= i128::from(i64::MAX) {
                format!("{name} is too large: found {v}, the most is about {max:.1e}")
            } else {
                format!("{name} must be a whole number from {min} to {max}, found {v}")
            }));
        }
        Ok(v)
    }

    fn float(&self, exp: &dyn Expected) -> Result<f64, DeError> {
        self.finite()?;
        match self.node.node {
            Node::Int(i) => Ok(i as f64),
            Node::Float(f) => Ok(f),
            _ => Err(self.invalid(exp)),
        }
    }

    fn seq<V: Visitor<'a>>(self, items: &'a [Located], visitor: V) -> Result<V::Value, DeError> {
        let access = SeqAcc {
            items: items.iter().enumerate(),
            path: self.path.clone(),
        };
        Self::finish(self.node, &self.path, visitor.visit_seq(access))
    }

    fn map<V: Visitor<'a>>(
        self,
        entries: &'a [(Key, Located)],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let last_key = RefCell::new(None);
        let access = MapAcc {
            entries: entries.iter(),
            pending: None,
            path: self.path.clone(),
            last_key: &last_key,
        };
        visitor.visit_map(access).map_err(|e| {
            // A duplicate (e.g. a field and its alias) is best shown at the second key.
            let key_at = last_key.borrow_mut().take();
            match key_at {
                Some(at) if e.kind == Kind::DuplicateField && e.at.is_none() => e.located(|| at),
                _ => e.located(|| At::of(self.node, &self.path)),
            }
        })
    }
}

macro_rules! de_integer {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            let v = self.integer(<$ty>::MIN as i128, <$ty>::MAX as i128, &visitor)?;
            // In range by the check above.
            let r = visitor.$visit(v as $ty);
            Self::finish(self.node, &self.path, r)
        }
    )*};
}

impl<'a> de::Deserializer<'a> for De<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node = self.node;
        let r = match &node.node {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Int(i) => visitor.visit_i64(*i),
            Node::Float(f) => visitor.visit_f64(*f),
            Node::Str(s) => visitor.visit_str(s),
            Node::Seq(items) => return self.seq(items, visitor),
            Node::Map(entries) => return self.map(entries, visitor),
        };
        Self::finish(node, &self.path, r)
    }

    de_integer! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
    }

    fn deserialize_i128<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let v = self.integer(i128::MIN, i128::MAX, &visitor)?;
        Self::finish(self.node, &self.path, visitor.visit_i128(v))
    }

    fn deserialize_u128<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let v = self.integer(0, i128::MAX, &visitor)?;
        // Non-negative by the check above.
        Self::finish(self.node, &self.path, visitor.visit_u128(v as u128))
    }

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let v = self.float(&visitor)?;
        if v.abs() > f64::from(f32::MAX) {
            return Err(self.error(format!(
                "{v} does not fit: expected a number of magnitude at most {}",
                f32::MAX
            )));
        }
        Self::finish(self.node, &self.path, visitor.visit_f32(v as f32))
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let v = self.float(&visitor)?;
        Self::finish(self.node, &self.path, visitor.visit_f64(v))
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.node {
            Node::Bool(b) => Self::finish(self.node, &self.path, visitor.visit_bool(b)),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let Node::Str(s) = &self.node.node {
            let mut chars = s.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return Self::finish(self.node, &self.path, visitor.visit_char(c));
            }
        }
        Err(self.invalid(&visitor))
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.node {
            Node::Str(s) => Self::finish(self.node, &self.path, visitor.visit_str(s)),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.node {
            Node::Str(s) => Self::finish(self.node, &self.path, visitor.visit_bytes(s.as_bytes())),
            Node::Seq(items) => self.seq(items, visitor),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let (node, path) = (self.node, self.path.clone());
        let r = match node.node {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        };
        Self::finish(node, &path, r)
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.node {
            Node::Null => Self::finish(self.node, &self.path, visitor.visit_unit()),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (node, path) = (self.node, self.path.clone());
        Self::finish(node, &path, visitor.visit_newtype_struct(self))
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.node {
            Node::Seq(items) => self.seq(items, visitor),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.node {
            // serde's tuple visitors ignore surplus items, so check the length here.
            Node::Seq(items) if items.len() != len => Err(self.error(format!(
                "expected a list of {len} items, found {} items",
                items.len()
            ))),
            Node::Seq(items) => self.seq(items, visitor),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.node {
            Node::Map(entries) => self.map(entries, visitor),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (name, content) = match &self.node.node {
            Node::Str(s) => (s.as_str(), None),
            Node::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                (k.name.as_str(), Some(v))
            }
            other => {
                return Err(self.error(format!(
                    "expected one of {}, as a name or a map with one key, found {}",
                    backticked(variants),
                    describe_node(other)
                )));
            }
        };
        // An unknown variant is reported at the enum's value (for `{name: ...}` that is the
        // mapping, which in block style starts at the name anyway).
        let name_at = self.at();
        let access = EnumAcc {
            name,
            name_at,
            content,
            enum_at: self.at(),
        };
        Self::finish(self.node, &self.path, visitor.visit_enum(access))
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Nothing to consume: the tree is already in memory.
        Self::finish(self.node, &self.path, visitor.visit_unit())
    }
}

struct SeqAcc<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Located>>,
    path: Rc<str>,
}

impl<'a> SeqAccess<'a> for SeqAcc<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, item)) = self.items.next() else {
            return Ok(None);
        };
        let path = child_index(&self.path, i);
        let r = seed.deserialize(De::new(item, path.clone()));
        De::finish(item, &path, r).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAcc<'a, 'c> {
    entries: std::slice::Iter<'a, (Key, Located)>,
    pending: Option<&'a (Key, Located)>,
    path: Rc<str>,
    last_key: &'c RefCell<Option<At>>,
}

/// Where a key is, for errors about it; a key created by an override shares its value's origin.
fn key_at(key: &Key, value: &Located, path: Rc<str>) -> At {
    At {
        loc: key.loc,
        origin: if key.loc.is_override() {
            value.origin.clone()
        } else {
            None
        },
        path,
    }
}

impl<'a> MapAccess<'a> for MapAcc<'a, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some(entry);
        let (key, value) = entry;
        let at = key_at(key, value, child_key(&self.path, &key.name));
        *self.last_key.borrow_mut() = Some(at.clone());
        let de = KeyDe {
            name: &key.name,
            at: at.clone(),
        };
        match seed.deserialize(de) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(e.located(|| at)),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(DeError::new(
                "internal error: a map value was read before its key".to_string(),
            ));
        };
        let path = child_key(&self.path, &key.name);
        let r = seed.deserialize(De::new(value, path.clone()));
        De::finish(value, &path, r)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Deserializer for a mapping key or an enum variant name: text, parsed on request.
struct KeyDe<'a> {
    name: &'a str,
    at: At,
}

impl KeyDe<'_> {
    fn invalid(&self, exp: &dyn Expected) -> DeError {
        let at = self.at.clone();
        <DeError as de::Error>::invalid_type(Unexpected::Str(self.name), exp).located(|| at)
    }

    fn finish<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.located(|| self.at.clone()))
    }
}

macro_rules! key_parse {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            match self.name.trim().parse::<$ty>() {
                Ok(v) => self.finish(visitor.$visit(v)),
                Err(_) => Err(self.invalid(&visitor)),
            }
        }
    )*};
}

impl<'a> de::Deserializer<'a> for KeyDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.finish(visitor.visit_str(self.name))
    }

    key_parse! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
        deserialize_char => visit_char: char,
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let at = self.at.clone();
        visitor.visit_some(self).map_err(|e| e.located(|| at))
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let at = self.at.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.located(|| at))
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let access = EnumAcc {
            name: self.name,
            name_at: self.at.clone(),
            content: None,
            enum_at: self.at.clone(),
        };
        self.finish(visitor.visit_enum(access))
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        Err(self.invalid(&visitor))
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        str string bytes byte_buf unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// An enum value: the variant's name and, for `{variant: content}`, its content.
struct EnumAcc<'a> {
    name: &'a str,
    name_at: At,
    content: Option<&'a Located>,
    enum_at: At,
}

impl<'a> EnumAccess<'a> for EnumAcc<'a> {
    type Error = DeError;
    type Variant = VariantAcc<'a>;

    fn variant_seed<V: DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantAcc<'a>), DeError> {
        let key = KeyDe {
            name: self.name,
            at: self.name_at.clone(),
        };
        let at = self.name_at.clone();
        let value = seed.deserialize(key).map_err(|e| e.located(|| at))?;
        let path = if self.content.is_some() {
            child_key(&self.enum_at.path, self.name)
        } else {
            self.enum_at.path.clone()
        };
        Ok((
            value,
            VariantAcc {
                name: self.name,
                content: self.content,
                path,
                enum_at: self.enum_at,
            },
        ))
    }
}

struct VariantAcc<'a> {
    name: &'a str,
    content: Option<&'a Located>,
    path: Rc<str>,
    enum_at: At,
}

impl<'a> VariantAcc<'a> {
    /// The variant's content, or an error saying it needs some.
    fn content(&self, what: &str) -> Result<De<'a>, DeError> {
        match self.content {
            Some(c) => Ok(De::new(c, self.path.clone())),
            None => {
                let at = self.enum_at.clone();
                Err(DeError::new(format!(
                    "`{}` needs {what}: write it as a mapping `{}: ...`",
                    self.name, self.name
                ))
                .located(|| at))
            }
        }
    }
}

impl<'a> VariantAccess<'a> for VariantAcc<'a> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.content {
            None => Ok(()),
            Some(c) if c.node == Node::Null => Ok(()),
            Some(c) => Err(DeError::new(format!(
                "`{}` takes no settings; write just `{}`",
                self.name, self.name
            ))
            .located(|| At::of(c, &self.path))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, DeError> {
        let de = self.content("a value")?;
        let (node, path) = (de.node, de.path.clone());
        De::finish(node, &path, seed.deserialize(de))
    }

    fn tuple_variant<V: Visitor<'a>>(self, len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_tuple(self.content("a list of values")?, len, visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self.content("settings")?, "", fields, visitor)
    }
}

// ---------------------------------------------------------------------------------------
// Paths: locate, error_at
// ---------------------------------------------------------------------------------------

/// One step of a path: `.name` (a key, an item's `name`, or a decimal index) or `[n]`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Seg<'p> {
    Name(&'p str),
    Index(usize),
}

/// Splits `services[0].node_pool` / `services.0.node_pool` / `services.chat.node_pool`.
fn split_path(path: &str) -> Result<Vec<Seg<'_>>, String> {
    let mut segs = Vec::new();
    if path.is_empty() {
        return Ok(segs);
    }
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            segs.push(Seg::Name(name));
        } else if rest.is_empty() || segs.is_empty() && !path.starts_with('[') {
            return Err(format!("the path `{path}` has an empty part"));
        }
        while !rest.is_empty() {
            let inner = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .filter(|(inner, _)| !inner.is_empty());
            let Some((inner, after)) = inner else {
                return Err(format!("the path `{path}` has a malformed `[...]` part"));
            };
            match inner.parse::<usize>() {
                Ok(i) => segs.push(Seg::Index(i)),
                Err(_) => segs.push(Seg::Name(inner)),
            }
            rest = after;
        }
    }
    Ok(segs)
}

/// The value of an item's `name` field as text, if it has one.
fn item_name(item: &Located) -> Option<String> {
    match &item.get("name")?.node {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(f.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list step as an index (`[2]` or `.2`), or else the item name it looks for.
fn seq_index<'p>(seg: Seg<'p>) -> Result<usize, &'p str> {
    match seg {
        Seg::Index(i) => Ok(i),
        Seg::Name(n) => n.parse::<usize>().map_err(|_| n),
    }
}

/// One step down the tree; the second value is the step written in bracket form.
fn step<'t>(node: &'t Located, seg: Seg<'_>) -> Option<(&'t Located, String)> {
    match (&node.node, seg) {
        (Node::Map(_), Seg::Name(k)) => node.get(k).map(|v| (v, format!(".{k}"))),
        (Node::Map(_), Seg::Index(i)) => node.get(&i.to_string()).map(|v| (v, format!(".{i}"))),
        (Node::Seq(items), seg) => {
            let i = match seq_index(seg) {
                Ok(i) => i,
                Err(n) => items
                    .iter()
                    .position(|it| item_name(it).as_deref() == Some(n))?,
            };
            items.get(i).map(|v| (v, format!("[{i}]")))
        }
        _ => None,
    }
}

fn seg_text(seg: Seg<'_>) -> String {
    match seg {
        Seg::Name(n) => format!(".{n}"),
        Seg::Index(i) => format!("[{i}]"),
    }
}

/// The deepest existing node along `path` and the path in bracket form (with any part that
/// does not exist appended as written).
fn walk<'t>(root: &'t Located, path: &str) -> Result<(&'t Located, String), String> {
    let segs = split_path(path)?;
    let mut node = root;
    let mut shown = String::new();
    let mut rest = segs.iter();
    for &seg in rest.by_ref() {
        match step(node, seg) {
            Some((next, text)) => {
                node = next;
                shown.push_str(&text);
            }
            None => {
                shown.push_str(&seg_text(seg));
                break;
            }
        }
    }
    for &seg in rest {
        shown.push_str(&seg_text(seg));
    }
    Ok((node, shown.trim_start_matches('.').to_string()))
}

/// Where the node at `path` was written, or its nearest existing ancestor if it is missing.
///
/// `path` may use indexes (`services[0].node_pool`, `services.0.node_pool`) or, inside a
/// list, an item's `name` field (`services.chat.node_pool`). Returns `None` only for a
/// malformed path. A node set by an override has [`Loc::OVERRIDE`].
pub fn locate(root: &Located, path: &str) -> Option<Loc> {
    walk(root, path).ok().map(|(node, _)| node.loc)
}

/// Builds an error about the node at `path` (see [`locate`] for the path forms).
///
/// The error points at that node, or at its nearest existing ancestor when the node is
/// missing (useful for "field X is required when ..."), shows the path in bracket form
/// (`services[0].node_pool`) and names the `--set` assignment if the node came from one.
pub fn error_at(file: &str, root: &Located, path: &str, message: impl Into<String>) -> LoadError {
    let (node, shown) = walk(root, path).unwrap_or((root, path.to_string()));
    LoadError::at(
        file,
        node.loc,
        node.origin.as_deref(),
        &shown,
        message.into(),
    )
}

// ---------------------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------------------

/// Applies one `--set dotted.path=value` assignment to the tree.
///
/// Path segments are mapping keys; inside a list, a decimal index or the value of an item's
/// `name` field (`services.chat.replicas=4`, `workloads.0.arrivals.poisson.rate=40/s`).
/// `[n]` also works for indexes. The value is read as YAML: `4` is a number, `40/s` and
/// `"4"` are strings, `{dynamic: {max_batch: 8}}` a mapping, `[1,2]` a list and an empty
/// value is null. Missing mapping keys along the way are created (an empty value on the way
/// becomes a mapping); an index past the end, an unknown item name or a path through a
/// scalar is an error. Every node the assignment creates or replaces is marked with
/// [`Loc::OVERRIDE`] and [`Located::origin`] set to `assignment`, so later errors about it
/// name the `--set`.
pub fn apply_override(root: &mut Located, assignment: &str) -> Result<(), String> {
    let Some((path, text)) = assignment.split_once('=') else {
        return Err("expected `path=value`, for example `services.chat.replicas=4`".to_string());
    };
    let path = path.trim();
    if path.is_empty() {
        return Err("the path before `=` is empty".to_string());
    }
    let segs = split_path(path)?;
    if segs.len() > MAX_OVERRIDE_SEGMENTS {
        return Err(format!(
            "the path has {} parts, more than the limit of {MAX_OVERRIDE_SEGMENTS}",
            segs.len()
        ));
    }
    let mut value = if text.trim().is_empty() {
        Located::new(Node::Null, Loc::OVERRIDE)
    } else {
        parse_text(text).map_err(|(_, msg)| format!("the value is not valid YAML: {msg}"))?
    };
    if segs.len() + depth(&value) > MAX_DEPTH {
        return Err(format!(
            "the path and value together nest deeper than the limit of {MAX_DEPTH} levels"
        ));
    }
    let origin: Arc<str> = Arc::from(assignment);
    mark(&mut value, &origin);
    set_path(root, &segs, &mut String::new(), value, &origin)
}

/// How many levels of lists and mappings a value has; bounded by parsing.
fn depth(node: &Located) -> usize {
    match &node.node {
        Node::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Node::Map(entries) => 1 + entries.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// Marks a value as coming from an override; depth is bounded by parsing.
fn mark(node: &mut Located, origin: &Arc<str>) {
    node.loc = Loc::OVERRIDE;
    node.origin = Some(origin.clone());
    match &mut node.node {
        Node::Seq(items) => items.iter_mut().for_each(|i| mark(i, origin)),
        Node::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            k.loc = Loc::OVERRIDE;
            mark(v, origin);
        }),
        _ => {}
    }
}

/// Puts `value` at `segs` below `node`; `walked` is the path so far, for messages.
/// Recursion depth is bounded by [`MAX_OVERRIDE_SEGMENTS`].
fn set_path(
    node: &mut Located,
    segs: &[Seg<'_>],
    walked: &mut String,
    value: Located,
    origin: &Arc<str>,
) -> Result<(), String> {
    let Some((&seg, rest)) = segs.split_first() else {
        *node = value;
        return Ok(());
    };
    if node.node == Node::Null {
        // `batching:` left empty in the file: treat it as an empty mapping to fill in.
        node.node = Node::Map(Vec::new());
    }
    let here = if walked.is_empty() {
        "the top level".to_string()
    } else {
        format!("`{walked}`")
    };
    match &mut node.node {
        Node::Map(entries) => {
            let key = match seg {
                Seg::Name(k) => k.to_string(),
                Seg::Index(i) => i.to_string(),
            };
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(&key);
            let index = match entries.iter().position(|(k, _)| k.name == key) {
                Some(i) => i,
                None => {
                    let mut fresh = Located::new(Node::Map(Vec::new()), Loc::OVERRIDE);
                    fresh.origin = Some(origin.clone());
                    let name = Key {
                        name: key,
                        loc: Loc::OVERRIDE,
                    };
                    entries.push((name, fresh));
                    entries.len() - 1
                }
            };
            set_path(&mut entries[index].1, rest, walked, value, origin)
        }
        Node::Seq(items) => {
            let names: Vec<String> = items.iter().filter_map(item_name).collect();
            let i = match seq_index(seg) {
                Ok(i) if i < items.len() => i,
                Ok(i) => {
                    return Err(format!(
                        "{here} is a list of {} items, so there is no item {i}{}",
                        items.len(),
                        if names.is_empty() {
                            String::new()
                        } else {
                            format!(" (items by name: {})", backticked_owned(&names))
                        }
                    ));
                }
                Err(n) => match items
                    .iter()
                    .position(|it| item_name(it).as_deref() == Some(n))
                {
                    Some(i) => i,
                    None if names.is_empty() => {
                        return Err(format!(
                            "{here} has no item named `{n}`: its items have no `name`; use an index from 0 to {}",
                            items.len().saturating_sub(1)
                        ));
                    }
                    None => {
                        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                        let hint = suggest(n, &refs)
                            .map(|s| format!("did you mean `{s}`? "))
                            .unwrap_or_default();
                        return Err(format!(
                            "{here} has no item named `{n}`; {hint}the names are {}",
                            backticked_owned(&names)
                        ));
                    }
                },
            };
            walked.push_str(&format!("[{i}]"));
            set_path(&mut items[i], rest, walked, value, origin)
        }
        other => Err(format!(
            "cannot go into {here}: it is {}, not a mapping or list",
            describe_node(other)
        )),
    }
}

fn backticked_owned(names: &[String]) -> String {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    backticked(&refs)
}

// ---------------------------------------------------------------------------------------
// All together
// ---------------------------------------------------------------------------------------

/// Parses a scenario, applies the `--set` overrides in order and deserializes it.
///
/// Returns the typed value and the tree, which later validation can pass to [`error_at`].
/// An override that cannot be applied becomes an error naming the assignment.
pub fn load<T: DeserializeOwned>(
    file: &str,
    bytes: &[u8],
    overrides: &[String],
) -> Result<(T, Located), LoadError> {
    load_document(file, bytes, overrides, "scenario")
}

/// Like [`load`], for a document of another `kind` (see [`parse_document`]).
pub fn load_document<T: DeserializeOwned>(
    file: &str,
    bytes: &[u8],
    overrides: &[String],
    kind: &str,
) -> Result<(T, Located), LoadError> {
    let mut root = parse_document(file, bytes, kind)?;
    for assignment in overrides {
        apply_override(&mut root, assignment)
            .map_err(|message| LoadError::at(file, Loc::OVERRIDE, Some(assignment), "", message))?;
    }
    let value = from_tree(file, &root)?;
    Ok((value, root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserializer;
    use std::time::{Duration, Instant};

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Scenario {
        name: String,
        #[serde(default)]
        seed: Option<u64>,
        services: Vec<Service>,
        #[serde(default)]
        node_pools: Vec<Pool>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Service {
        name: String,
        replicas: u32,
        #[serde(default)]
        batching: Option<Batching>,
        #[serde(default)]
        timeout: Option<Dur>,
        #[serde(default)]
        rate: Option<Rate>,
        #[serde(default)]
        weight: Option<f64>,
        #[serde(default)]
        range: Option<(u32, u32)>,
        #[serde(default)]
        gpu: Option<Gpu>,
        #[serde(default)]
        node_pool: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Pool {
        name: String,
        gpu: String,
        count: u16,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Gpu(String);

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    enum Batching {
        None,
        Fixed(u32),
        Dynamic {
            max_batch: u32,
            #[serde(default)]
            max_wait: Option<Dur>,
        },
    }

    /// Milliseconds, written `250ms`; raises `Error::custom` from inside its visitor.
    #[derive(Debug, PartialEq)]
    struct Dur(u64);

    impl<'de> Deserialize<'de> for Dur {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Dur;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a duration such as `250ms`")
                }
                fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
                    let Some(n) = s.strip_suffix("ms") else {
                        return Err(E::invalid_value(Unexpected::Str(s), &self));
                    };
                    let v: i64 = n.parse().map_err(|_| E::custom("bad number"))?;
                    if v < 0 {
                        return Err(E::custom("a duration must be zero or positive"));
                    }
                    Ok(Dur(v as u64))
                }
            }
            d.deserialize_str(V)
        }
    }

    /// Events per second, written `40/s`; raises `Error::custom` after reading a String.
    #[derive(Debug, PartialEq)]
    struct Rate(f64);

    impl<'de> Deserialize<'de> for Rate {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            let n = s
                .strip_suffix("/s")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    de::Error::custom(format!("expected a rate such as `20/s`, found `{s}`"))
                })?;
            Ok(Rate(n))
        }
    }

    const GOOD: &str = "\
name: demo
seed: 7
services:
  - name: chat
    replicas: 2
    batching:
      dynamic:
        max_batch: 32
        max_wait: 5ms
    rate: 40/s
  - name: embed
    replicas: 1
    batching: none
    weight: 2
    range: [1, 4]
    gpu: h100
  - name: rank
    replicas: 3
    batching: {fixed: 8}
    timeout: 250ms
node_pools:
  - name: a100
    gpu: a100-80gb
    count: 4
";

    fn load_str(text: &str) -> Result<Scenario, LoadError> {
        load::<Scenario>("scenario.yaml", text.as_bytes(), &[]).map(|(s, _)| s)
    }

    fn load_err(text: &str) -> LoadError {
        match load_str(text) {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    fn load_set(sets: &[&str]) -> Result<(Scenario, Located), LoadError> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        load::<Scenario>("scenario.yaml", GOOD.as_bytes(), &sets)
    }

    fn parse_err(bytes: &[u8]) -> LoadError {
        parse("scenario.yaml", bytes).expect_err("expected a parse error")
    }

    #[test]
    fn parses_good_values() {
        let s = load_str(GOOD).unwrap();
        assert_eq!(s.name, "demo");
        assert_eq!(s.seed, Some(7));
        assert_eq!(s.services.len(), 3);
        let chat = &s.services[0];
        assert_eq!(chat.replicas, 2);
        assert_eq!(
            chat.batching,
            Some(Batching::Dynamic {
                max_batch: 32,
                max_wait: Some(Dur(5))
            })
        );
        assert_eq!(chat.rate, Some(Rate(40.0)));
        assert_eq!(chat.weight, None);
        let embed = &s.services[1];
        assert_eq!(embed.batching, Some(Batching::None));
        assert_eq!(embed.weight, Some(2.0));
        assert_eq!(embed.range, Some((1, 4)));
        assert_eq!(embed.gpu, Some(Gpu("h100".into())));
        assert_eq!(s.services[2].batching, Some(Batching::Fixed(8)));
        assert_eq!(s.services[2].timeout, Some(Dur(250)));
        assert_eq!(
            s.node_pools,
            vec![Pool {
                name: "a100".into(),
                gpu: "a100-80gb".into(),
                count: 4
            }]
        );
    }

    #[test]
    fn tree_records_locations_and_scalar_types() {
        let root = parse(
            "f.yaml",
            b"a: 1\nb:\n  - x\n  - 2.5\n  - true\n  - ~\n7: \"4\"\n",
        )
        .unwrap();
        let Node::Map(entries) = &root.node else {
            panic!("not a map")
        };
        assert_eq!(
            entries[0].0,
            Key {
                name: "a".into(),
                loc: Loc { line: 1, col: 1 }
            }
        );
        assert_eq!(
            entries[0].1,
            Located::new(Node::Int(1), Loc { line: 1, col: 4 })
        );
        let Node::Seq(items) = &entries[1].1.node else {
            panic!("not a seq")
        };
        let nodes: Vec<&Node> = items.iter().map(|i| &i.node).collect();
        assert_eq!(
            nodes,
            [
                &Node::Str("x".into()),
                &Node::Float(2.5),
                &Node::Bool(true),
                &Node::Null
            ]
        );
        assert_eq!(items[1].loc, Loc { line: 4, col: 5 });
        assert_eq!(entries[2].0.name, "7");
        assert_eq!(entries[2].1.node, Node::Str("4".into()));
    }

    #[test]
    fn byte_order_mark_and_crlf() {
        let root = parse("f.yaml", b"\xEF\xBB\xBFa: 1\r\nb: x\r\n").unwrap();
        assert_eq!(root.get("a").unwrap().node, Node::Int(1));
        assert_eq!(root.get("b").unwrap().loc, Loc { line: 2, col: 4 });
        let e = parse_err(b"\xEF\xBB\xBF# nothing\r\n");
        assert_eq!(e.message, "the scenario file is empty");
    }

    #[test]
    fn yes_and_no_stay_strings() {
        let root = parse("f.yaml", b"a: yes\nb: no\n").unwrap();
        assert_eq!(root.get("a").unwrap().node, Node::Str("yes".into()));
        assert_eq!(root.get("b").unwrap().node, Node::Str("no".into()));
    }

    #[test]
    fn unknown_field_suggests_and_points_at_key() {
        let text = GOOD.replace("    replicas: 1\n", "    replicaz: 1\n");
        let e = load_err(&text);
        assert_eq!((e.line, e.col), (12, 5));
        assert_eq!(e.field, "services[1].replicaz");
        assert!(
            e.message
                .starts_with("unknown field `replicaz`: did you mean `replicas`?"),
            "{e}"
        );
        assert!(e.message.contains("`node_pool`"), "{e}");
    }

    #[test]
    fn unknown_field_without_close_match() {
        let e = load_err(&GOOD.replace("seed: 7", "zzzzzzzz: 7"));
        assert_eq!((e.line, e.col), (2, 1));
        assert_eq!(e.field, "zzzzzzzz");
        assert!(!e.message.contains("did you mean"), "{e}");
        assert!(
            e.message
                .contains("expected one of `name`, `seed`, `services`, `node_pools`")
        );
    }

    #[test]
    fn wrong_types() {
        let e = load_err(&GOOD.replace("replicas: 2", "replicas: abc"));
        assert_eq!(
            e.to_string(),
            "scenario.yaml:5:15: services[0].replicas: expected u32, found the string \"abc\""
        );

        let e = load_err(&GOOD.replace("name: demo", "name: {a: 1}"));
        assert_eq!((e.line, e.col, e.field.as_str()), (1, 7, "name"));
        assert_eq!(e.message, "expected a string, found a mapping");

        let e = load_err(&GOOD.replace("name: demo", "name: 12"));
        assert_eq!(
            e.message,
            "expected a string, found the number 12 (put it in quotes if you mean text)"
        );

        let e = load_err(&GOOD.replace("timeout: 250ms", "timeout: 90"));
        assert_eq!(
            e.message,
            "expected a duration such as `250ms`, found the number 90"
        );
        assert_eq!(e.field, "services[2].timeout");

        let e = load_err(&GOOD.replace("range: [1, 4]", "range: [1, 4, 5]"));
        assert_eq!(e.message, "expected a list of 2 items, found 3 items");

        let e = load_err(&GOOD.replace("weight: 2", "weight: [2]"));
        assert_eq!(e.message, "expected f64, found a list");
    }

    #[test]
    fn integers_out_of_range() {
        let e = load_err(&GOOD.replace("replicas: 2", "replicas: 1e12"));
        assert_eq!(
            e.message,
            "replicas must be a whole number from 0 to 4294967295, found 1000000000000"
        );
        assert_eq!((e.line, e.col), (5, 15));

        let e = load_err(&GOOD.replace("replicas: 2", "replicas: 1000000000000"));
        assert_eq!(
            e.message,
            "replicas must be a whole number from 0 to 4294967295, found 1000000000000"
        );

        let e = load_err(&GOOD.replace("replicas: 2", "replicas: -3"));
        assert_eq!(
            e.message,
            "replicas must be a non-negative whole number, found -3"
        );

        let e = load_err(&GOOD.replace("count: 4", "count: 70000"));
        assert_eq!(
            e.message,
            "count must be a whole number from 0 to 65535, found 70000"
        );
        assert_eq!(e.field, "node_pools[0].count");

        let e = load_err(&GOOD.replace("replicas: 2", "replicas: 2.5"));
        assert_eq!(e.message, "expected u32, found the number 2.5");

        // An integral float is a fine integer.
        let s = load_str(&GOOD.replace("replicas: 2", "replicas: 2.0")).unwrap();
        assert_eq!(s.services[0].replicas, 2);

        // Beyond i64 the number is kept as a float and still range-checked.
        let e = load_err(&GOOD.replace("seed: 7", "seed: 99999999999999999999"));
        assert_eq!(
            e.message, "seed is too large: found 100000000000000000000, the most is about 1.8e19",
            "{e}"
        );
        let e = load_err(&GOOD.replace("seed: 7", "seed: -5"));
        assert_eq!(
            e.message, "seed must be a non-negative whole number, found -5",
            "{e}"
        );
    }

    #[test]
    fn custom_error_gets_location_and_path() {
        let e = load_err(&GOOD.replace("max_wait: 5ms", "max_wait: -5ms"));
        assert_eq!(
            e.to_string(),
            "scenario.yaml:9:19: services[0].batching.dynamic.max_wait: a duration must be zero or positive"
        );
        // Raised after the deserializer returned (String::deserialize, then custom).
        let e = load_err(&GOOD.replace("rate: 40/s", "rate: fast"));
        assert_eq!(
            e.to_string(),
            "scenario.yaml:10:11: services[0].rate: expected a rate such as `20/s`, found `fast`"
        );
    }

    #[test]
    fn missing_field_points_at_enclosing_map() {
        let e = load_err(&GOOD.replace("    replicas: 1\n", ""));
        assert_eq!(e.field, "services[1]");
        assert_eq!(e.message, "missing field `replicas`");
        assert_eq!((e.line, e.col), (11, 5));
        let e = load_err(&GOOD.replace("name: demo\n", ""));
        assert_eq!(e.to_string(), "scenario.yaml:1:1: missing field `name`");
    }

    #[test]
    fn unknown_variant_suggests() {
        let e = load_err(&GOOD.replace("batching: none", "batching: nonee"));
        assert_eq!(
            e.to_string(),
            "scenario.yaml:13:15: services[1].batching: unknown variant `nonee`: did you mean `none`? (expected one of `none`, `fixed`, `dynamic`)"
        );
        // In flow style the error points at the mapping, the enum's value.
        let e = load_err(&GOOD.replace("batching: none", "batching: {nonee: ~}"));
        assert_eq!(
            (e.line, e.col, e.field.as_str()),
            (13, 15, "services[1].batching")
        );
        let e = load_err(&GOOD.replace("      dynamic:", "      dynamc:"));
        assert_eq!((e.line, e.col), (7, 7));
        assert!(e.message.contains("did you mean `dynamic`?"), "{e}");
        let e = load_err(&GOOD.replace("max_batch: 32", "max_batch: x"));
        assert_eq!(e.field, "services[0].batching.dynamic.max_batch");
        assert_eq!(e.message, "expected u32, found the string \"x\"");
    }

    #[test]
    fn enum_shapes() {
        let e = load_err(&GOOD.replace("batching: none", "batching: {fixed: 1, none: ~}"));
        assert_eq!(e.field, "services[1].batching");
        assert_eq!(
            e.message,
            "expected one of `none`, `fixed`, `dynamic`, as a name or a map with one key, found a mapping with 2 keys"
        );
        let e = load_err(&GOOD.replace("batching: none", "batching: 3"));
        assert!(e.message.contains("found the number 3"), "{e}");
        let e = load_err(&GOOD.replace("batching: none", "batching: dynamic"));
        assert!(e.message.contains("`dynamic` needs settings"), "{e}");
        let e = load_err(&GOOD.replace("batching: none", "batching: {none: 3}"));
        assert!(e.message.contains("`none` takes no settings"), "{e}");
        let s = load_str(&GOOD.replace("batching: none", "batching: {none: }")).unwrap();
        assert_eq!(s.services[1].batching, Some(Batching::None));
    }

    #[test]
    fn empty_and_comment_only_files() {
        for text in ["", "\n\n", "# just a comment\n  # another\n", "---\n# c\n"] {
            let e = parse_err(text.as_bytes());
            assert_eq!(
                e.to_string(),
                "scenario.yaml:1:1: the scenario file is empty",
                "{text:?}"
            );
        }
    }

    #[test]
    fn binary_garbage() {
        let e = parse_err(b"a: 1\nb: \xff\xfe");
        assert_eq!((e.line, e.col), (2, 4));
        assert!(e.message.contains("not UTF-8"), "{e}");
        let e = parse_err(b"a: 1\n  b\x00c");
        assert_eq!((e.line, e.col), (2, 4));
        assert!(e.message.contains("NUL"), "{e}");
        let e = parse_err(&[0x89, b'P', b'N', b'G', 0, 0xff, 1, 2]);
        assert_eq!((e.line, e.col), (1, 1));
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        let e = parse_err(b"- a\n- b\n");
        assert_eq!(
            e.to_string(),
            "scenario.yaml:1:1: the top level of a scenario must be a mapping of `key: value` settings, found a list of 2 items"
        );
        let e = parse_err(b"just text\n");
        assert!(e.message.contains("found the string \"just text\""), "{e}");
    }

    #[test]
    fn several_documents() {
        let e = parse_err(b"a: 1\n---\nb: 2\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("exactly one document"), "{e}");
    }

    #[test]
    fn tabs_for_indentation() {
        let e = parse_err(b"a:\n\tb: 1\n");
        assert_eq!(e.line, 2);
        assert_eq!(
            e.message,
            "this line is indented with a tab; YAML allows only spaces for indentation"
        );
        assert!(!e.message.contains('\n'));
    }

    #[test]
    fn unterminated_flow_sequence() {
        let e = parse_err(b"a: [1, 2\nb: 3\n");
        assert_eq!(
            e.to_string(),
            "scenario.yaml:2:2: illegal placement of ':' indicator (is the `[` at line 1, column 4 missing its closing `]`?)"
        );
        let e = parse_err(b"a: [1, 2");
        assert!(!e.message.contains('\n'));
        assert!(e.message.starts_with("unclosed bracket '['"), "{e}");
    }

    #[test]
    fn duplicate_keys() {
        let e = parse_err(b"a: 1\na: 2\n");
        assert_eq!(
            e.to_string(),
            "scenario.yaml:2:1: the key `a` appears twice in this mapping"
        );
    }

    #[test]
    fn file_size_limit() {
        let big = vec![b' '; MAX_FILE_BYTES + 1];
        let e = parse_err(&big);
        assert!(e.message.contains("16 MiB"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        for text in [
            "[".repeat(100_000),
            format!("a: {}", "[".repeat(100_000)),
            "{a: ".repeat(100_000),
            "- ".repeat(100_000),
            (0..2_000)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect(),
        ] {
            let e = parse_err(text.as_bytes());
            assert!(!e.message.is_empty());
        }
        // Nesting up to the limit is fine, also when deserialized on a small test stack.
        #[derive(Deserialize)]
        struct Nest(#[allow(dead_code)] Vec<Nest>);
        #[derive(Deserialize)]
        struct Top {
            #[allow(dead_code)]
            a: Nest,
        }
        let levels = MAX_DEPTH - 1;
        let ok = format!("a: {}{}", "[".repeat(levels), "]".repeat(levels));
        let root = parse("f.yaml", ok.as_bytes()).unwrap();
        assert!(from_tree::<Top>("f.yaml", &root).is_ok());
        let too_deep = format!("a: {}{}", "[".repeat(levels + 1), "]".repeat(levels + 1));
        let e = parse_err(too_deep.as_bytes());
        assert!(e.message.contains("nested"), "{e}");
    }

    #[test]
    fn alias_bomb_is_refused_quickly() {
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            text.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
        }
        let start = Instant::now();
        let e = parse_err(text.as_bytes());
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "took {:?}",
            start.elapsed()
        );
        assert!(
            e.message.contains("alias") || e.message.contains("too"),
            "{e}"
        );
    }

    #[test]
    fn override_existing_scalar_by_name_and_index() {
        let (s, root) = load_set(&[
            "services.chat.replicas=4",
            "services.1.replicas=5",
            "services[2].replicas=6",
        ])
        .unwrap();
        assert_eq!(
            s.services.iter().map(|s| s.replicas).collect::<Vec<_>>(),
            [4, 5, 6]
        );
        let node = &root.get("services").unwrap();
        let Node::Seq(items) = &node.node else {
            panic!()
        };
        let replicas = items[0].get("replicas").unwrap();
        assert_eq!(replicas.loc, Loc::OVERRIDE);
        assert_eq!(replicas.origin.as_deref(), Some("services.chat.replicas=4"));
    }

    #[test]
    fn override_values_are_yaml() {
        let (s, _) = load_set(&[
            "services.embed.batching={dynamic: {max_batch: 8}}",
            "node_pools.a100.gpu=h100-80gb",
            "services.rank.range=[2,3]",
            "services.chat.rate=7/s",
            "name=\"4\"",
        ])
        .unwrap();
        assert_eq!(
            s.services[1].batching,
            Some(Batching::Dynamic {
                max_batch: 8,
                max_wait: None
            })
        );
        assert_eq!(s.node_pools[0].gpu, "h100-80gb");
        assert_eq!(s.services[2].range, Some((2, 3)));
        assert_eq!(s.services[0].rate, Some(Rate(7.0)));
        assert_eq!(s.name, "4");
    }

    #[test]
    fn override_creates_missing_keys() {
        let (s, root) = load_set(&[
            "services.chat.weight=1.5",
            "services.chat.batching.dynamic.max_wait=7ms",
            "services.rank.batching=",
            "services.rank.batching.dynamic.max_batch=16",
        ])
        .unwrap();
        assert_eq!(s.services[0].weight, Some(1.5));
        assert_eq!(
            s.services[0].batching,
            Some(Batching::Dynamic {
                max_batch: 32,
                max_wait: Some(Dur(7))
            })
        );
        assert_eq!(
            s.services[2].batching,
            Some(Batching::Dynamic {
                max_batch: 16,
                max_wait: None
            })
        );
        assert_eq!(locate(&root, "services.chat.weight"), Some(Loc::OVERRIDE));
        // Creating a whole missing branch: intermediate mappings appear.
        let mut root = parse("f.yaml", b"a: 1\n").unwrap();
        apply_override(&mut root, "b.c.d=x").unwrap();
        let d = root
            .get("b")
            .and_then(|b| b.get("c"))
            .and_then(|c| c.get("d"))
            .unwrap();
        assert_eq!(d.node, Node::Str("x".into()));
    }

    #[test]
    fn override_errors() {
        let e = load_set(&["services.chatt.replicas=4"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "scenario.yaml (--set services.chatt.replicas=4): `services` has no item named `chatt`; did you mean `chat`? the names are `chat`, `embed`, `rank`"
        );
        let e = load_set(&["services.9.replicas=4"]).unwrap_err();
        assert!(
            e.message
                .contains("is a list of 3 items, so there is no item 9"),
            "{e}"
        );
        let e = load_set(&["name.first=x"]).unwrap_err();
        assert_eq!(
            e.message,
            "cannot go into `name`: it is the string \"demo\", not a mapping or list"
        );
        let e = load_set(&["services.chat.replicas"]).unwrap_err();
        assert!(e.message.contains("path=value"), "{e}");
        let e = load_set(&["services..replicas=1"]).unwrap_err();
        assert!(e.message.contains("empty part"), "{e}");
        let e = load_set(&["name=[1, 2"]).unwrap_err();
        assert!(e.message.starts_with("the value is not valid YAML"), "{e}");
        let deep = format!("{}=1", vec!["a"; 100].join("."));
        let e = load_set(&[deep.as_str()]).unwrap_err();
        assert!(e.message.contains("limit"), "{e}");
    }

    #[test]
    fn error_on_overridden_value_names_the_set() {
        let e = load_set(&["services.chat.replicas=abc"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "scenario.yaml (--set services.chat.replicas=abc): services[0].replicas: expected u32, found the string \"abc\""
        );
        let e = load_set(&["services.chat.replicaz=3"]).unwrap_err();
        assert!(
            e.to_string().starts_with("scenario.yaml (--set services.chat.replicaz=3): services[0].replicaz: unknown field `replicaz`: did you mean `replicas`?"),
            "{e}"
        );
        let e = load_set(&["services.embed.batching={dynamic: {max_batch: -1}}"]).unwrap_err();
        assert_eq!(e.field, "services[1].batching.dynamic.max_batch");
        assert_eq!(
            e.file,
            "scenario.yaml (--set services.embed.batching={dynamic: {max_batch: -1}})"
        );
        assert_eq!((e.line, e.col), (0, 0));
    }

    #[test]
    fn locate_by_name_and_index() {
        let root = parse("scenario.yaml", GOOD.as_bytes()).unwrap();
        let at = Loc { line: 12, col: 15 };
        assert_eq!(locate(&root, "services[1].replicas"), Some(at));
        assert_eq!(locate(&root, "services.1.replicas"), Some(at));
        assert_eq!(locate(&root, "services.embed.replicas"), Some(at));
        assert_eq!(
            locate(&root, "node_pools.a100.gpu"),
            Some(Loc { line: 23, col: 10 })
        );
        // Missing: nearest ancestor.
        assert_eq!(
            locate(&root, "services.embed.node_pool"),
            Some(Loc { line: 11, col: 5 })
        );
        assert_eq!(locate(&root, "services.nope.x"), locate(&root, "services"));
        assert_eq!(locate(&root, ""), Some(root.loc));
        assert_eq!(locate(&root, "services[x"), None);

        let e = error_at(
            "scenario.yaml",
            &root,
            "services.embed.node_pool",
            "no node pool `b200`",
        );
        assert_eq!(
            e.to_string(),
            "scenario.yaml:11:5: services[1].node_pool: no node pool `b200`"
        );
        let e = error_at(
            "scenario.yaml",
            &root,
            "services.0.batching.dynamic.max_batch",
            "too big",
        );
        assert_eq!(
            e.to_string(),
            "scenario.yaml:8:20: services[0].batching.dynamic.max_batch: too big"
        );
    }

    #[test]
    fn error_at_names_override() {
        let (_, root) = load_set(&["services.chat.node_pool=b200"]).unwrap();
        let e = error_at(
            "scenario.yaml",
            &root,
            "services[0].node_pool",
            "unknown node pool `b200`",
        );
        assert_eq!(
            e.to_string(),
            "scenario.yaml (--set services.chat.node_pool=b200): services[0].node_pool: unknown node pool `b200`"
        );
    }

    #[test]
    fn duplicate_field_points_at_second_key() {
        #[derive(Debug, Deserialize)]
        struct A {
            #[allow(dead_code)]
            #[serde(alias = "n")]
            num: u32,
        }
        let root = parse("f.yaml", b"num: 1\nn: 2\n").unwrap();
        let e = from_tree::<A>("f.yaml", &root).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml:2:1: n: the field `num` is given twice"
        );
    }

    #[test]
    fn display_forms() {
        let mut e = LoadError {
            file: "s.yaml".into(),
            line: 3,
            col: 7,
            field: String::new(),
            message: "oops".into(),
        };
        assert_eq!(e.to_string(), "s.yaml:3:7: oops");
        e.field = "a[1].b".into();
        assert_eq!(e.to_string(), "s.yaml:3:7: a[1].b: oops");
        e.line = 0;
        assert_eq!(e.to_string(), "s.yaml: a[1].b: oops");
    }

    #[test]
    fn suggestions() {
        let c = ["replicas", "node_pool", "batching", "gpu"];
        assert_eq!(suggest("replica", &c), Some("replicas"));
        assert_eq!(suggest("Replicas", &c), Some("replicas"));
        assert_eq!(suggest("nodepool", &c), Some("node_pool"));
        assert_eq!(suggest("bacthing", &c), Some("batching"));
        assert_eq!(suggest("gpus", &c), Some("gpu"));
        assert_eq!(suggest("zz", &c), None);
        assert_eq!(suggest("timeout", &c), None);
        assert_eq!(suggest("x", &[]), None);
    }

    #[test]
    fn untagged_and_maps_work_through_any() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(untagged)]
        enum Count {
            Fixed(u32),
            Range { min: u32, max: u32 },
        }
        #[derive(Debug, Deserialize, PartialEq)]
        struct T {
            counts: std::collections::BTreeMap<String, Count>,
            by_id: std::collections::BTreeMap<u8, bool>,
            unit: (),
        }
        let root = parse(
            "f.yaml",
            b"counts: {a: 3, b: {min: 1, max: 2}}\nby_id: {1: true, 2: false}\nunit: ~\n",
        )
        .unwrap();
        let t: T = from_tree("f.yaml", &root).unwrap();
        assert_eq!(t.counts["a"], Count::Fixed(3));
        assert_eq!(t.counts["b"], Count::Range { min: 1, max: 2 });
        assert!(t.by_id[&1]);
        let root = parse("f.yaml", b"counts: {a: x}\nby_id: {}\nunit: ~\n").unwrap();
        let e = from_tree::<T>("f.yaml", &root).unwrap_err();
        assert_eq!((e.line, e.col, e.field.as_str()), (1, 13, "counts.a"));
        let root = parse("f.yaml", b"counts: {}\nby_id: {300: true}\nunit: ~\n").unwrap();
        let e = from_tree::<T>("f.yaml", &root).unwrap_err();
        assert_eq!((e.line, e.col, e.field.as_str()), (2, 9, "by_id.300"));
    }

    fn check_no_panic(bytes: &[u8]) {
        if let Ok(root) = parse("p.yaml", bytes) {
            let _ = from_tree::<Scenario>("p.yaml", &root);
            let _ = from_tree::<serde::de::IgnoredAny>("p.yaml", &root);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_strings_never_panic(text in "\\PC{0,200}") {
            check_no_panic(text.as_bytes());
        }

        #[test]
        fn yamlish_strings_never_panic(text in "[a-z0-9:\\-\\[\\]{}&*!|>'\",#? \n\t.~]{0,200}") {
            check_no_panic(text.as_bytes());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            check_no_panic(&bytes);
        }

        #[test]
        fn mutated_documents_never_panic(
            edits in proptest::collection::vec((0usize..GOOD.len(), 0u8..3, "[ -~\n\t]"), 1..8)
        ) {
            let mut bytes = GOOD.as_bytes().to_vec();
            for (pos, op, ch) in edits {
                let pos = pos.min(bytes.len());
                match op {
                    0 => { bytes.insert(pos, ch.as_bytes()[0]); }
                    1 if pos < bytes.len() => { bytes.remove(pos); }
                    _ if pos < bytes.len() => { bytes[pos] = ch.as_bytes()[0]; }
                    _ => {}
                }
            }
            check_no_panic(&bytes);
        }

        #[test]
        fn random_overrides_never_panic(path in "[a-z0-9.\\[\\]]{0,30}", value in "\\PC{0,30}") {
            let mut root = parse("scenario.yaml", GOOD.as_bytes()).unwrap();
            if apply_override(&mut root, &format!("{path}={value}")).is_ok() {
                let _ = from_tree::<Scenario>("scenario.yaml", &root);
            }
            let _ = locate(&root, &path);
        }
    }
}
