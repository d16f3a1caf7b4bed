//! The small JSON subset the CLI reads and writes: the `--json` report of a
//! run (written entry by entry, never built as one string), the `--ctx-in`
//! document, and the
//! `--maps-in` document `{"MAP": {"KEY": VALUE, ...}, ...}`. Hand-written
//! because the shapes are fixed and tiny (no extra dependency).

use std::fmt::Write as _;
use std::io::{self, Write};

use thiserror::Error;

use tinybpf_maps::MapType;
use tinybpf_vm::TierUsed;

use tinybpf_vm::exec::ctx::ContextOut;

use crate::map::Map;
use crate::object::Object;
use crate::outcome::events_json;
use crate::timed::TimedRuns;
use crate::typed::TypedView;
use tinybpf_loader::btf::value::MAX_JSON_DEPTH;

/// Quotes and escapes a string for JSON.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lowercase hex of bytes in memory order.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A formatted value as JSON, or its bytes in hex when BTF does not type it.
fn write_formatted<W: Write + ?Sized>(
    out: &mut W,
    value: Option<tinybpf_loader::btf::value::Value>,
    bytes: &[u8],
) -> io::Result<()> {
    match value {
        Some(value) => value.write_json(out),
        None => write!(out, "\"{}\"", hex(bytes)),
    }
}

/// Writes the `--json` report of a run: exactly one object on one line,
/// `{"retval", "repeat", "first_run_ns", "ns_per_run", "insns_per_run",
/// "maps": {"NAME": {"type", "key_size", "value_size", "max_entries",
/// "entries": {"KEYHEX": "VALUEHEX", ...}}}}`, keys and values as lowercase
/// hex in memory order. `"type"` is the bpftool name of the map type.
/// Every entry present is listed (arrays: every index, or with
/// `nonzero_only` only those with a non-zero byte; hashes and the other
/// maps whose keys may be missing: every key they hold, in no particular
/// order); a per-CPU value is the kernel's user-space format, each
/// possible CPU's value padded to 8 bytes, concatenated, CPU 0 first.
/// Where the object's BTF types a map's keys or values, `"formatted"`
/// follows `"entries"`, as in `bpftool map dump`: a list of `{"key",
/// "value"}` in the same order, each formatted by its type (structs as
/// objects by member, arrays as lists, numbers, enums by name; a per-CPU
/// value as a list, CPU 0 first; a key or value BTF does not type as its
/// hex, a key of 1, 2, 4 or 8 bytes as its little-endian number).
/// `ns_per_run` is the steady state (the runs after the first), or the only
/// run's time. `"tier"` says which tier ran: `{"name": "interpreter"}`,
/// with a `"fallback"` sentence when compiling was asked for and could not
/// be done, or `{"name": "compiled", "code_bytes", "compile_us"}`.
pub fn write_run_report<W: Write + ?Sized>(
    out: &mut W,
    object: &Object,
    runs: &TimedRuns,
    nonzero_only: bool,
) -> io::Result<()> {
    write!(
        out,
        "{{\"retval\": {}, \"repeat\": {}, \"first_run_ns\": {}, \"ns_per_run\": {:.1}, \"insns_per_run\": {}, \"tier\": ",
        runs.retval,
        runs.repeat,
        runs.first_run_ns,
        runs.ns_per_run(),
        runs.insns_per_run
    )?;
    write_tier(out, &runs.tier)?;
    write!(out, ", ")?;
    if let Some(context) = &runs.context_out {
        write_context(out, &runs.data_out, context)?;
        write!(out, ", ")?;
    }
    write!(out, "\"maps\": {{")?;
    for (i, map) in object.maps().iter().enumerate() {
        write!(
            out,
            "{}{}: ",
            if i > 0 { ", " } else { "" },
            quote(map.name())
        )?;
        write_map_json(out, map, TypedView::of(object, map).as_ref(), nonzero_only)?;
    }
    write!(out, "}}")?;
    // What the helpers leave, each only when there is something.
    if let Some(redirect) = &runs.redirect {
        write!(out, ", \"redirect\": {}", redirect.to_json())?;
    }
    if !runs.events.is_empty() {
        write!(out, ", \"events\": {}", events_json(&runs.events))?;
    }
    writeln!(out, "}}")
}

/// Writes one map as `--json` shows it: `{"type", "key_size",
/// "value_size", "max_entries", "entries": {"KEYHEX": "VALUEHEX"}}`, with
/// `"formatted"` after the entries when `typed` is given (see
/// [`write_run_report`]); `nonzero_only` leaves out arrays' all-zero
/// entries.
pub fn write_map_json<W: Write + ?Sized>(
    out: &mut W,
    map: &Map,
    typed: Option<&TypedView<'_>>,
    nonzero_only: bool,
) -> io::Result<()> {
    let def = map.def();
    write!(
        out,
        "{{\"type\": \"{}\", \"key_size\": {}, \"value_size\": {}, \"max_entries\": {}, \"entries\": {{",
        map.type_name(),
        def.key_size,
        def.value_size,
        def.max_entries
    )?;
    let mut first = true;
    let every_index = matches!(map.map_type(), MapType::Array | MapType::PercpuArray);
    let shown = |value: &[u8]| !(nonzero_only && every_index && value.iter().all(|&b| b == 0));
    for (key, value) in map.entries() {
        if !shown(&value) {
            continue;
        }
        let separator = if first { "" } else { ", " };
        first = false;
        write!(out, "{separator}\"{}\": \"{}\"", hex(&key), hex(&value))?;
    }
    write!(out, "}}")?;
    if let Some(typed) = typed {
        write!(out, ", \"formatted\": [")?;
        let mut first = true;
        for (key, value) in map.entries() {
            if !shown(&value) {
                continue;
            }
            write!(out, "{}{{\"key\": ", if first { "" } else { ", " })?;
            first = false;
            match typed.key(&key, true) {
                Some(formatted) => formatted.write_json(out)?,
                // An index, or a key given by its size only: its number.
                None if matches!(key.len(), 1 | 2 | 4 | 8) => {
                    let number = key.iter().rev().fold(0u64, |n, &b| n << 8 | u64::from(b));
                    write!(out, "{number}")?;
                }
                None => write!(out, "\"{}\"", hex(&key))?,
            }
            write!(out, ", \"value\": ")?;
            if map.map_type().is_percpu() {
                let size = map.def().value_size as usize;
                let stride = size.next_multiple_of(8).max(1);
                write!(out, "[")?;
                for (cpu, chunk) in value.chunks(stride).enumerate() {
                    let own = &chunk[..size.min(chunk.len())];
                    write!(out, "{}", if cpu > 0 { ", " } else { "" })?;
                    write_formatted(out, typed.value(own, true), own)?;
                }
                write!(out, "]")?;
            } else {
                write_formatted(out, typed.value(&value, true), &value)?;
            }
            write!(out, "}}")?;
        }
        write!(out, "]")?;
    }
    write!(out, "}}")?;
    Ok(())
}

/// `{"name": ...}` of the tier that ran.
fn write_tier<W: Write + ?Sized>(out: &mut W, tier: &TierUsed) -> io::Result<()> {
    match tier {
        TierUsed::Compiled {
            code_bytes,
            compile_micros,
        } => write!(
            out,
            "{{\"name\": \"compiled\", \"code_bytes\": {code_bytes}, \"compile_us\": {compile_micros}}}"
        ),
        TierUsed::Interpreter { fallback: None } => write!(out, "{{\"name\": \"interpreter\"}}"),
        TierUsed::Interpreter {
            fallback: Some(why),
        } => write!(
            out,
            "{{\"name\": \"interpreter\", \"fallback\": {}}}",
            quote(&why.to_string())
        ),
    }
}

/// `"packet": "HEX", "ctx": {...}`: a packet program's packet and context
/// after the run, as the kernel's test run returns them.
fn write_context<W: Write + ?Sized>(
    out: &mut W,
    packet: &[u8],
    context: &ContextOut,
) -> io::Result<()> {
    write!(out, "\"packet\": \"{}\", \"ctx\": {{", hex(packet))?;
    match context {
        ContextOut::Xdp(md) => write!(
            out,
            "\"data\": {}, \"data_end\": {}, \"data_meta\": {}, \"ingress_ifindex\": {}, \"rx_queue_index\": {}",
            md.data, md.data_end, md.data_meta, md.ingress_ifindex, md.rx_queue_index
        )?,
        ContextOut::Skb(skb) => {
            let cb: Vec<String> = skb.cb.iter().map(u32::to_string).collect();
            write!(
                out,
                "\"mark\": {}, \"priority\": {}, \"ingress_ifindex\": {}, \"ifindex\": {}, \"cb\": [{}], \"tstamp\": {}, \"wire_len\": {}, \"gso_segs\": {}, \"gso_size\": {}, \"hwtstamp\": {}",
                skb.mark,
                skb.priority,
                skb.ingress_ifindex,
                skb.ifindex,
                cb.join(", "),
                skb.tstamp,
                skb.wire_len,
                skb.gso_segs,
                skb.gso_size,
                skb.hwtstamp
            )?;
        }
    }
    write!(out, "}}")
}

/// A value in a `--maps-in` entry, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// A JSON string, unescaped.
    String(String),
    /// A JSON number, its text as written (checked by the reader of the value).
    Number(String),
    /// A JSON object, list, `true` or `false`, its text as written: a value
    /// formatted by its BTF type, read back by that type.
    Json(String),
}

/// One map's object in a `--maps-in` document: its name and its entries,
/// in document order, duplicates kept (for the caller to refuse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsInMap {
    /// The member name: the map's name.
    pub name: String,
    /// `(key, value)` pairs as written.
    pub entries: Vec<(String, Scalar)>,
}

/// Where and why a `--maps-in` document is not the JSON expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What was expected there.
    pub message: String,
}

/// Parses a `--maps-in` document: an object whose members are objects whose
/// members are strings or numbers.
///
/// ```
/// use tinybpf::json::{Scalar, parse_maps_in};
/// let maps = parse_maps_in(r#"{"counters": {"1": 42, "0x2": "2a 00 00 00 00 00 00 00"}}"#).unwrap();
/// assert_eq!(maps[0].name, "counters");
/// assert_eq!(maps[0].entries[0], ("1".to_owned(), Scalar::Number("42".to_owned())));
/// assert!(parse_maps_in(r#"{"counters": [1]}"#).unwrap_err().to_string().starts_with("line 1, column 14"));
/// ```
pub fn parse_maps_in(text: &str) -> Result<Vec<MapsInMap>, SyntaxError> {
    let mut p = Parser {
        text: text.as_bytes(),
        pos: 0,
    };
    let mut maps = Vec::new();
    p.object("the document", |p, name| {
        let mut entries = Vec::new();
        p.object(&format!("map {}", quote(&name)), |p, key| {
            let value = p.scalar(&name, &key)?;
            entries.push((key, value));
            Ok(())
        })?;
        maps.push(MapsInMap { name, entries });
        Ok(())
    })?;
    p.skip_ws();
    if p.pos != p.text.len() {
        return Err(p.error("unexpected text after the closing '}'".to_owned()));
    }
    Ok(maps)
}

/// One member of a `--ctx-in` document: a number, or a list of numbers
/// (`cb`), as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtxValue {
    /// A number's text.
    Number(String),
    /// A list of numbers' texts.
    List(Vec<String>),
}

/// Parses a `--ctx-in` document: an object whose members are numbers or
/// lists of numbers, in document order.
///
/// ```
/// use tinybpf::json::{CtxValue, parse_ctx_in};
/// let fields = parse_ctx_in(r#"{"mark": 7, "cb": [1, 2]}"#).unwrap();
/// assert_eq!(fields[0], ("mark".to_owned(), CtxValue::Number("7".to_owned())));
/// assert_eq!(fields[1].1, CtxValue::List(vec!["1".to_owned(), "2".to_owned()]));
/// ```
pub fn parse_ctx_in(text: &str) -> Result<Vec<(String, CtxValue)>, SyntaxError> {
    let mut p = Parser {
        text: text.as_bytes(),
        pos: 0,
    };
    let mut fields = Vec::new();
    p.object("the context", |p, name| {
        let value = if p.peek() == Some(b'[') {
            p.pos += 1;
            let mut items = Vec::new();
            if p.peek() == Some(b']') {
                p.pos += 1;
            } else {
                loop {
                    items.push(p.number(&name)?);
                    match p.peek() {
                        Some(b',') => p.pos += 1,
                        Some(b']') => {
                            p.pos += 1;
                            break;
                        }
                        _ => {
                            return Err(p.error(format!("expected ',' or ']' in {}", quote(&name))));
                        }
                    }
                }
            }
            CtxValue::List(items)
        } else {
            CtxValue::Number(p.number(&name)?)
        };
        fields.push((name, value));
        Ok(())
    })?;
    p.skip_ws();
    if p.pos != p.text.len() {
        return Err(p.error("unexpected text after the closing '}'".to_owned()));
    }
    Ok(fields)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    /// A syntax error at the current position.
    fn error(&self, message: String) -> SyntaxError {
        let before = &self.text[..self.pos.min(self.text.len())];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        SyntaxError {
            line,
            column,
            message,
        }
    }

    fn skip_ws(&mut self) {
        while self
            .text
            .get(self.pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected '{}' {what}", char::from(byte))))
        }
    }

    /// An object (`whose` names it in messages) whose members are handled by
    /// `member(parser, name)`.
    fn object(
        &mut self,
        whose: &str,
        mut member: impl FnMut(&mut Self, String) -> Result<(), SyntaxError>,
    ) -> Result<(), SyntaxError> {
        self.expect(b'{', &format!("to open {whose}'s object"))?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error(format!("expected a quoted name in {whose}")));
            }
            let name = self.string()?;
            self.expect(b':', &format!("after {}", quote(&name)))?;
            member(self, name)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error(format!("expected ',' or '}}' in {whose}"))),
            }
        }
    }

    /// An entry's value: a string or a number.
    fn scalar(&mut self, map: &str, key: &str) -> Result<Scalar, SyntaxError> {
        match self.peek() {
            Some(b'"') => self.string().map(Scalar::String),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while self
                    .text
                    .get(self.pos)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.pos += 1;
                }
                let number = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
                Ok(Scalar::Number(number))
            }
            Some(b'{' | b'[' | b't' | b'f') => {
                let start = self.pos;
                self.skip_value(0)?;
                let raw = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
                Ok(Scalar::Json(raw))
            }
            _ => Err(self.error(format!(
                "map {}, key {}: expected the value, a string, a number, or JSON by the value's type",
                quote(map),
                quote(key)
            ))),
        }
    }

    /// Skips one JSON value (its syntax is checked when it is read by its
    /// type), nested at most [`MAX_JSON_DEPTH`] deep.
    fn skip_value(&mut self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_JSON_DEPTH} levels")));
        }
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.pos += 1;
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.expect(b':', "after a member name")?;
                    }
                    self.skip_value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(byte) if byte == close => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => {
                            return Err(
                                self.error(format!("expected ',' or '{}'", char::from(close)))
                            );
                        }
                    }
                }
            }
            Some(_) => {
                let start = self.pos;
                while self
                    .text
                    .get(self.pos)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
                {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.error("expected a JSON value".to_owned()));
                }
                Ok(())
            }
            None => Err(self.error("the document ends inside a value".to_owned())),
        }
    }

    /// A number's text (for field `name`'s messages).
    fn number(&mut self, name: &str) -> Result<String, SyntaxError> {
        match self.scalar("the context", name)? {
            Scalar::Number(text) => Ok(text),
            Scalar::String(_) | Scalar::Json(_) => {
                Err(self.error(format!("{}: expected a number", quote(name))))
            }
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.expect(b'"', "to open a string")?;
        let mut out = String::new();
        loop {
            let Some(&byte) = self.text.get(self.pos) else {
                return Err(self.error("the string is not closed".to_owned()));
            };
            match byte {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                0..0x20 => {
                    return Err(self.error(
                        "a control character in a string (write it as an escape)".to_owned(),
                    ));
                }
                _ => {
                    // One UTF-8 sequence, copied through unchanged.
                    let start = self.pos;
                    let mut end = start + 1;
                    while self.text.get(end).is_some_and(|b| b & 0xc0 == 0x80) {
                        end += 1;
                    }
                    let char = std::str::from_utf8(&self.text[start..end])
                        .map_err(|_| self.error("not UTF-8 text".to_owned()))?;
                    out.push_str(char);
                    self.pos = end;
                }
            }
        }
    }

    /// The character of the escape after a backslash.
    fn escape(&mut self) -> Result<char, SyntaxError> {
        let Some(&byte) = self.text.get(self.pos) else {
            return Err(self.error("the string is not closed".to_owned()));
        };
        self.pos += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                let code = if (0xd800..0xdc00).contains(&high) {
                    if self.text.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(self.error("a lone surrogate in a \\u escape".to_owned()));
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&low) {
                        return Err(self.error("a lone surrogate in a \\u escape".to_owned()));
                    }
                    0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
                } else {
                    high
                };
                char::from_u32(code)
                    .ok_or_else(|| self.error("a lone surrogate in a \\u escape".to_owned()))?
            }
            _ => {
                self.pos -= 1;
                return Err(self.error("an unknown escape in a string".to_owned()));
            }
        })
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("expected four hex digits after \\u".to_owned()))?;
        self.pos += 4;
        Ok(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Scalar {
        Scalar::Number(text.to_owned())
    }

    fn string(text: &str) -> Scalar {
        Scalar::String(text.to_owned())
    }

    #[test]
    fn parses_the_maps_in_shape_in_document_order() {
        let parsed = parse_maps_in(
            r#" { "counters": {"00000000": "2a00000000000000", "1": -1, "2": 7},
                  "e": {}, "counters": {"3": "0x10"} } "#,
        )
        .unwrap();
        let names: Vec<&str> = parsed.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["counters", "e", "counters"], "duplicates are kept");
        assert_eq!(
            parsed[0].entries,
            [
                ("00000000".to_owned(), string("2a00000000000000")),
                ("1".to_owned(), number("-1")),
                ("2".to_owned(), number("7")),
            ]
        );
        assert!(parsed[1].entries.is_empty());
        // Numbers keep their text, for the reader to check (1.5 is no key).
        let parsed = parse_maps_in(r#"{"m": {"k": 1.5e3}}"#).unwrap();
        assert_eq!(parsed[0].entries[0].1, number("1.5e3"));
    }

    #[test]
    fn escapes_are_decoded() {
        let parsed = parse_maps_in(r#"{"a\"b\\\/\n\u00e9\ud83d\ude00": {}}"#).unwrap();
        assert_eq!(parsed[0].name, "a\"b\\/\né😀");
        let parsed = parse_maps_in("{\"caf\u{e9}\": {}}").unwrap();
        assert_eq!(parsed[0].name, "café");
    }

    #[test]
    fn errors_name_the_line_and_column_and_what_was_expected() {
        let err = parse_maps_in("{\n  \"m\": {\"k\": nil}\n}").unwrap_err();
        assert_eq!((err.line, err.column), (2, 14));
        assert_eq!(
            err.message,
            "map \"m\", key \"k\": expected the value, a string, a number, or JSON by the value's type"
        );
        // JSON by type is kept as written, for the value's type to read.
        let parsed = parse_maps_in(r#"{"m": {"k": {"a": [1, "]"], "b": true}}}"#).unwrap();
        assert_eq!(
            parsed[0].entries[0].1,
            Scalar::Json(r#"{"a": [1, "]"], "b": true}"#.to_owned())
        );
        let err = parse_maps_in(r#"{"m": {"k": [1, 2}}"#).unwrap_err();
        assert_eq!(err.to_string(), "line 1, column 18: expected ',' or ']'");
        let err = parse_maps_in("").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1, column 1: expected '{' to open the document's object"
        );
        let err = parse_maps_in(r#"{"m": {"k": "v"} x"#).unwrap_err();
        assert_eq!(err.message, "expected ',' or '}' in the document");
        let err = parse_maps_in(r#"{"m": {"k": "v"}} x"#).unwrap_err();
        assert_eq!(err.message, "unexpected text after the closing '}'");
        let err = parse_maps_in(r#"{"m": {k: "v"}}"#).unwrap_err();
        assert_eq!(err.message, "expected a quoted name in map \"m\"");
        assert!(parse_maps_in(r#"{"m": {"k": "v"#).is_err());
        assert!(parse_maps_in(r#"{"m": {"k": "\q"}}"#).is_err());
        assert!(parse_maps_in(r#"{"m": {"k": "\ud800"}}"#).is_err());
        assert!(parse_maps_in("{\"m\": {\"k\": \"a\tb\"}}").is_err());
        assert!(parse_maps_in(r#"{"m": ["k"]}"#).is_err());
        assert!(parse_maps_in(r#"["m"]"#).is_err());
        let err = parse_maps_in("{\"\u{e9}\u{e9}\": {\"k\" \"v\"}}").unwrap_err();
        assert_eq!((err.line, err.column), (1, 13), "columns count characters");
    }

    #[test]
    fn hex_and_quote() {
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
        assert_eq!(quote("a\"b\n\u{1}"), "\"a\\\"b\\n\\u0001\"");
    }
}
