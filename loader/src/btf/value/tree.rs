//! [`Value`]: an owned tree of what BTF says some bytes hold, and its three
//! written forms: JSON ([`Value::write_json`]), one line of text for tables
//! (`Display`), and indented lines for wide values ([`Value::write_pretty`]).

use std::fmt::{self, Write as _};
use std::io;

/// An integer of up to 128 bits, signed or not: a sign and a magnitude, so
/// every `i128` and every `u128` is one.
///
/// ```
/// use tinybpf_loader::btf::value::Integer;
/// assert_eq!(Integer::from(-5i64).to_i128(), Some(-5));
/// assert_eq!(Integer::from(u128::MAX).to_i128(), None);
/// assert_eq!(Integer::from(i128::MIN).to_string(), "-170141183460469231731687303715884105728");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Integer {
    /// Whether it is below zero (never for zero itself).
    negative: bool,
    /// Its absolute value.
    magnitude: u128,
}

impl Integer {
    /// The integer `-magnitude` when `negative`, else `magnitude`.
    pub fn new(negative: bool, magnitude: u128) -> Integer {
        Integer {
            negative: negative && magnitude != 0,
            magnitude,
        }
    }

    /// Whether it is below zero.
    pub fn is_negative(self) -> bool {
        self.negative
    }

    /// Its absolute value.
    pub fn magnitude(self) -> u128 {
        self.magnitude
    }

    /// As a `u128`, when it is not negative.
    pub fn to_u128(self) -> Option<u128> {
        (!self.negative).then_some(self.magnitude)
    }

    /// As an `i128`, when it fits.
    pub fn to_i128(self) -> Option<i128> {
        if self.negative {
            0i128.checked_sub_unsigned(self.magnitude)
        } else {
            i128::try_from(self.magnitude).ok()
        }
    }
}

impl From<u128> for Integer {
    fn from(value: u128) -> Integer {
        Integer::new(false, value)
    }
}

impl From<i128> for Integer {
    fn from(value: i128) -> Integer {
        Integer::new(value < 0, value.unsigned_abs())
    }
}

macro_rules! integer_from {
    ($wide:ty: $($t:ty),*) => {$(
        impl From<$t> for Integer {
            fn from(value: $t) -> Integer {
                Integer::from(<$wide>::from(value))
            }
        }
    )*};
}

integer_from!(u128: u8, u16, u32, u64);
integer_from!(i128: i8, i16, i32, i64);

impl fmt::Display for Integer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_char('-')?;
        }
        write!(f, "{}", self.magnitude)
    }
}

/// A floating-point number, with the width it was read at (which decides
/// the shortest digits that read back as the same number).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Float {
    /// A 16- or 32-bit float (every 16-bit value is exactly a 32-bit one).
    Single(f32),
    /// A 64-bit float, or a number read from JSON.
    Double(f64),
}

impl Float {
    /// The number as an `f64` (exact for both widths).
    pub fn to_f64(self) -> f64 {
        match self {
            Float::Single(value) => f64::from(value),
            Float::Double(value) => value,
        }
    }
}

impl fmt::Display for Float {
    /// The shortest digits that read back as the same number, with an
    /// exponent for very large or small magnitudes; `nan`, `inf`, `-inf`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wide = self.to_f64();
        if wide.is_nan() {
            return f.write_str("nan");
        }
        if wide.is_infinite() {
            return f.write_str(if wide < 0.0 { "-inf" } else { "inf" });
        }
        let plain = wide == 0.0 || (1e-5..1e16).contains(&wide.abs());
        match (self, plain) {
            (Float::Single(v), true) => write!(f, "{v}"),
            (Float::Single(v), false) => write!(f, "{v:e}"),
            (Float::Double(v), true) => write!(f, "{v}"),
            (Float::Double(v), false) => write!(f, "{v:e}"),
        }
    }
}

/// What some bytes hold, as their BTF type describes them (from
/// [`format`](fn@super::format)), or a value to store (for
/// [`encode`](super::encode), read from JSON with [`Value::parse_json`] or
/// from a command line with [`Value::from_text`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON's `null` (never produced by formatting).
    Null,
    /// A `_Bool` holding 0 or 1, or JSON's `true`/`false`.
    Bool(bool),
    /// An integer, pointer or unnamed enum value.
    Int(Integer),
    /// A `float` or `double`.
    Float(Float),
    /// A string: a `char` array up to its NUL, or a JSON string.
    Str(String),
    /// A string too long to show whole: its first bytes, and how many more
    /// bytes the array holds.
    Truncated {
        /// The bytes shown.
        text: String,
        /// The bytes left out.
        more_bytes: u64,
    },
    /// An enum value that has a name (a JSON string; bare in text).
    Enumerator(String),
    /// Bytes no number can show (a `long double`), in memory order.
    Bytes(Vec<u8>),
    /// An array's elements.
    List(Vec<Value>),
    /// A struct's or union's members by name, in declaration order, the
    /// members of anonymous structs and unions in their place.
    Object(Vec<(String, Value)>),
    /// The last item of a [`Value::List`] or [`Value::Object`] cut short by
    /// the output limits: how many elements or members are not shown.
    Elided {
        /// Elements or members left out.
        more: u64,
    },
}

/// The key an elided remainder has in a [`Value::Object`].
pub(crate) const ELIDED_KEY: &str = "...";

/// Whether a string is how JSON writes a part left out: `... (N more)`,
/// `(N more members)`, or a string ending `... (N more bytes)`.
pub(crate) fn is_elision_text(text: &str) -> bool {
    let count_then = |rest: &str, tail: &str| {
        rest.strip_suffix(tail)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    text.strip_prefix("... (")
        .is_some_and(|rest| count_then(rest, " more)"))
        || text
            .strip_prefix('(')
            .is_some_and(|rest| count_then(rest, " more members)"))
        || text
            .rfind("... (")
            .is_some_and(|at| count_then(&text[at + "... (".len()..], " more bytes)"))
}

/// Quotes and escapes text as a JSON string.
fn write_quoted(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if u32::from(c) < 0x20 || c == '\u{7f}' => write!(out, "\\u{:04x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Whether a member name can be written bare in text (a C identifier).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn write_hex(out: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    out.write_char('"')?;
    for byte in bytes {
        write!(out, "{byte:02x}")?;
    }
    out.write_char('"')
}

/// Adapts an [`io::Write`] to [`fmt::Write`], keeping the I/O error.
struct IoAdapter<'a, W: io::Write + ?Sized> {
    out: &'a mut W,
    error: Option<io::Error>,
}

impl<W: io::Write + ?Sized> fmt::Write for IoAdapter<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

/// Runs a [`fmt::Write`] writer over an [`io::Write`].
fn through_io<W: io::Write + ?Sized>(
    out: &mut W,
    write: impl FnOnce(&mut IoAdapter<'_, W>) -> fmt::Result,
) -> io::Result<()> {
    let mut adapter = IoAdapter { out, error: None };
    match write(&mut adapter) {
        Ok(()) => Ok(()),
        Err(fmt::Error) => Err(adapter
            .error
            .unwrap_or_else(|| io::Error::other("formatting failed"))),
    }
}

/// Counts characters and fails once there are more than `cap`.
struct Measure {
    len: usize,
    cap: usize,
}

impl fmt::Write for Measure {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.len += s.chars().count();
        if self.len > self.cap {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

impl Value {
    /// Whether it is neither a list nor an object.
    pub fn is_scalar(&self) -> bool {
        !matches!(self, Value::List(_) | Value::Object(_))
    }

    /// Whether something was left out of it to stay within the limits
    /// (an [`Value::Elided`] or a [`Value::Truncated`] anywhere inside).
    pub fn is_elided(&self) -> bool {
        match self {
            Value::Elided { .. } | Value::Truncated { .. } => true,
            Value::List(items) => items.iter().any(Value::is_elided),
            Value::Object(members) => members.iter().any(|(_, v)| v.is_elided()),
            _ => false,
        }
    }

    /// The member called `name` of an object.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Writes the value as JSON on one line, the way bpftool's `map dump`
    /// writes its `formatted` form: numbers, strings, `true`/`false`,
    /// arrays, objects by member name. Enumerators are strings; a float
    /// that is not finite is the string `"nan"`, `"inf"` or `"-inf"`;
    /// [`Value::Bytes`] is a string of hex; an elided remainder is the
    /// string `"... (N more)"` at the end of an array, or the member
    /// `"...": "(N more members)"` at the end of an object.
    ///
    /// ```
    /// use tinybpf_loader::btf::value::Value;
    /// let value = Value::parse_json(r#"{"a": [1, -2], "b": "x\"y"}"#).unwrap();
    /// let mut out = Vec::new();
    /// value.write_json(&mut out).unwrap();
    /// assert_eq!(String::from_utf8(out).unwrap(), r#"{"a": [1, -2], "b": "x\"y"}"#);
    /// ```
    pub fn write_json<W: io::Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        through_io(out, |out| self.json(out))
    }

    /// The JSON form ([`Value::write_json`]) as a string.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.json(&mut out);
        out
    }

    fn json(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Value::Null => out.write_str("null"),
            Value::Bool(b) => write!(out, "{b}"),
            Value::Int(i) => write!(out, "{i}"),
            Value::Float(f) if f.to_f64().is_finite() => write!(out, "{f}"),
            Value::Float(f) => write!(out, "\"{f}\""),
            Value::Str(text) | Value::Enumerator(text) => write_quoted(out, text),
            Value::Truncated { text, more_bytes } => {
                write_quoted(out, &format!("{text}... ({more_bytes} more bytes)"))
            }
            Value::Bytes(bytes) => write_hex(out, bytes),
            Value::Elided { more } => write!(out, "\"... ({more} more)\""),
            Value::List(items) => {
                out.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.write_str(", ")?;
                    }
                    item.json(out)?;
                }
                out.write_char(']')
            }
            Value::Object(members) => {
                out.write_char('{')?;
                for (i, (name, member)) in members.iter().enumerate() {
                    if i > 0 {
                        out.write_str(", ")?;
                    }
                    write_quoted(out, name)?;
                    out.write_str(": ")?;
                    match member {
                        Value::Elided { more } => write!(out, "\"({more} more members)\"")?,
                        other => other.json(out)?,
                    }
                }
                out.write_char('}')
            }
        }
    }

    /// The one-line text form (also `Display`): like JSON, but member
    /// names and enumerators bare, `nan`/`inf` bare, and elisions as
    /// `... (N more)`: `{packets: 3, name: "eth0", proto: PROTO_UDP}`.
    fn text(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Value::Enumerator(name) => out.write_str(name),
            Value::Float(f) => write!(out, "{f}"),
            Value::Truncated { text, more_bytes } => {
                write_quoted(out, text)?;
                write!(out, "... ({more_bytes} more bytes)")
            }
            Value::Elided { more } => write!(out, "... ({more} more)"),
            Value::List(items) => {
                out.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.write_str(", ")?;
                    }
                    item.text(out)?;
                }
                out.write_char(']')
            }
            Value::Object(members) => {
                out.write_char('{')?;
                for (i, (name, member)) in members.iter().enumerate() {
                    if i > 0 {
                        out.write_str(", ")?;
                    }
                    write_member(out, name, member)?;
                }
                out.write_char('}')
            }
            other => other.json(out),
        }
    }

    /// Whether the one-line text form takes at most `width` characters
    /// (measured only up to `width + 1`, whatever the value's size).
    pub fn fits(&self, width: usize) -> bool {
        let mut measure = Measure { len: 0, cap: width };
        self.text(&mut measure).is_ok()
    }

    /// Writes the text form on as many lines as it needs to stay within
    /// `width` columns: a value whose one-line form fits is written on one
    /// line; otherwise each member of an object, or each element of an
    /// array of structs or arrays, goes on its own line, indented two more
    /// columns, and arrays of scalars are filled line by line. The first
    /// line continues from column `column`; every later line starts with
    /// `indent` spaces plus the nesting. No newline is written after the
    /// last line.
    ///
    /// ```
    /// use tinybpf_loader::btf::value::Value;
    /// let value = Value::parse_json(r#"{"name": "eth0", "counts": [1, 2, 3, 4, 5, 6]}"#).unwrap();
    /// let mut out = Vec::new();
    /// value.write_pretty(&mut out, 0, 0, 30).unwrap();
    /// assert_eq!(
    ///     String::from_utf8(out).unwrap(),
    ///     "{\n  name: \"eth0\",\n  counts: [1, 2, 3, 4, 5, 6]\n}"
    /// );
    /// ```
    pub fn write_pretty<W: io::Write + ?Sized>(
        &self,
        out: &mut W,
        column: usize,
        indent: usize,
        width: usize,
    ) -> io::Result<()> {
        through_io(out, |out| self.pretty(out, column, indent, width))
    }

    fn pretty(
        &self,
        out: &mut impl fmt::Write,
        column: usize,
        indent: usize,
        width: usize,
    ) -> fmt::Result {
        if self.is_scalar() || self.fits(width.saturating_sub(column)) {
            return self.text(out);
        }
        let inner = indent + 2;
        let newline = |out: &mut dyn fmt::Write, spaces: usize| {
            out.write_char('\n')?;
            (0..spaces).try_for_each(|_| out.write_char(' '))
        };
        match self {
            Value::Object(members) => {
                out.write_char('{')?;
                for (i, (name, member)) in members.iter().enumerate() {
                    newline(out, inner)?;
                    if let Value::Elided { more } = member {
                        write!(out, "... ({more} more members)")?;
                    } else {
                        let label = member_label(name);
                        out.write_str(&label)?;
                        let start = inner + label.chars().count();
                        member.pretty(out, start, inner, width)?;
                    }
                    if i + 1 < members.len() {
                        out.write_char(',')?;
                    }
                }
                newline(out, indent)?;
                out.write_char('}')
            }
            Value::List(items) if items.iter().all(Value::is_scalar) => {
                out.write_char('[')?;
                let mut at = width; // forces a new line before the first item
                for (i, item) in items.iter().enumerate() {
                    let mut piece = String::new();
                    item.text(&mut piece)?;
                    if i + 1 < items.len() {
                        piece.push(',');
                    }
                    let len = piece.chars().count();
                    if at > inner && at + 1 + len > width {
                        newline(out, inner)?;
                        at = inner;
                    } else {
                        out.write_char(' ')?;
                        at += 1;
                    }
                    out.write_str(&piece)?;
                    at += len;
                }
                newline(out, indent)?;
                out.write_char(']')
            }
            Value::List(items) => {
                out.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    newline(out, inner)?;
                    item.pretty(out, inner, inner, width)?;
                    if i + 1 < items.len() {
                        out.write_char(',')?;
                    }
                }
                newline(out, indent)?;
                out.write_char(']')
            }
            other => other.text(out),
        }
    }
}

/// `name: ` as text writes it (quoted when it is not an identifier).
fn member_label(name: &str) -> String {
    let mut label = String::new();
    if is_identifier(name) {
        label.push_str(name);
    } else {
        let _ = write_quoted(&mut label, name);
    }
    label.push_str(": ");
    label
}

fn write_member(out: &mut impl fmt::Write, name: &str, member: &Value) -> fmt::Result {
    if let Value::Elided { more } = member {
        return write!(out, "... ({more} more members)");
    }
    out.write_str(&member_label(name))?;
    member.text(out)
}

impl fmt::Display for Value {
    /// The one-line text form: `{packets: 3, name: "eth0", flags: [1, 0]}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.text(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i64) -> Value {
        Value::Int(v.into())
    }

    fn object(members: &[(&str, Value)]) -> Value {
        Value::Object(
            members
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn integers_cover_both_128_bit_ranges() {
        assert_eq!(Integer::from(u128::MAX).to_u128(), Some(u128::MAX));
        assert_eq!(Integer::from(i128::MIN).to_i128(), Some(i128::MIN));
        assert_eq!(Integer::from(i128::MIN).to_u128(), None);
        assert_eq!(
            Integer::new(true, 0),
            Integer::from(0u8),
            "no negative zero"
        );
        assert_eq!(Integer::new(true, 1u128 << 127).to_i128(), Some(i128::MIN));
        assert_eq!(Integer::new(true, (1u128 << 127) + 1).to_i128(), None);
        assert_eq!(Integer::from(-7i8).to_string(), "-7");
    }

    #[test]
    fn floats_print_their_shortest_digits_at_their_width() {
        assert_eq!(Float::Single(0.1).to_string(), "0.1");
        assert_eq!(
            Float::Double(f64::from(0.1f32)).to_string(),
            "0.10000000149011612"
        );
        assert_eq!(Float::Double(-2.25).to_string(), "-2.25");
        assert_eq!(Float::Double(1e300).to_string(), "1e300");
        assert_eq!(Float::Double(-0.0).to_string(), "-0");
        assert_eq!(Float::Single(f32::NAN).to_string(), "nan");
        assert_eq!(Float::Double(f64::NEG_INFINITY).to_string(), "-inf");
        assert_eq!(
            Value::Float(Float::Double(f64::INFINITY)).to_json(),
            "\"inf\""
        );
    }

    #[test]
    fn json_and_text_forms() {
        let value = object(&[
            ("packets", int(3)),
            ("name", Value::Str("eth0\n\"".to_owned())),
            ("proto", Value::Enumerator("PROTO_UDP".to_owned())),
            (
                "flags",
                Value::List(vec![int(1), int(-1), Value::Elided { more: 4 }]),
            ),
            ("ok", Value::Bool(true)),
            ("odd name", Value::Bytes(vec![0, 0xab])),
            (
                "long",
                Value::Truncated {
                    text: "abc".to_owned(),
                    more_bytes: 9,
                },
            ),
            ("...", Value::Elided { more: 2 }),
        ]);
        assert_eq!(
            value.to_json(),
            r#"{"packets": 3, "name": "eth0\n\"", "proto": "PROTO_UDP", "flags": [1, -1, "... (4 more)"], "ok": true, "odd name": "00ab", "long": "abc... (9 more bytes)", "...": "(2 more members)"}"#
        );
        assert_eq!(
            value.to_string(),
            r#"{packets: 3, name: "eth0\n\"", proto: PROTO_UDP, flags: [1, -1, ... (4 more)], ok: true, "odd name": "00ab", long: "abc"... (9 more bytes), ... (2 more members)}"#
        );
        assert!(value.is_elided());
        assert!(!int(1).is_elided());
        assert_eq!(value.member("packets"), Some(&int(3)));
        assert_eq!(Value::Null.to_json(), "null");
        assert_eq!(object(&[]).to_string(), "{}");
        assert_eq!(Value::List(vec![]).to_json(), "[]");
        assert_eq!(
            Value::Str("\u{1}\u{7f}".to_owned()).to_json(),
            r#""\u0001\u007f""#
        );
    }

    #[test]
    fn elision_texts_are_recognised() {
        for elided in [
            Value::Elided { more: 4 },
            Value::Truncated {
                text: "ab".to_owned(),
                more_bytes: 9,
            },
        ] {
            let Ok(Value::Str(text)) = Value::parse_json(&elided.to_json()) else {
                panic!()
            };
            assert!(is_elision_text(&text), "{text}");
        }
        assert!(is_elision_text("(12 more members)"));
        assert!(!is_elision_text("... (x more)"));
        assert!(!is_elision_text("... ( more)"));
        assert!(!is_elision_text("eth0"));
        assert!(!is_elision_text("(more members)"));
    }

    #[test]
    fn fits_measures_only_up_to_the_width() {
        let value = Value::List(vec![int(12), int(34)]);
        assert!(value.fits(8));
        assert!(!value.fits(7));
        // A huge list is not written out to be measured.
        let huge = Value::List((0..1_000_000).map(int).collect());
        assert!(!huge.fits(80));
    }

    #[test]
    fn pretty_breaks_what_does_not_fit() {
        let value = object(&[
            ("a", int(1)),
            (
                "inner",
                object(&[
                    ("x", Value::List((0..12).map(int).collect())),
                    ("y", int(2)),
                ]),
            ),
            (
                "rows",
                Value::List(vec![
                    object(&[("p", int(1))]),
                    object(&[("p", int(22222222222))]),
                ]),
            ),
            ("...", Value::Elided { more: 3 }),
        ]);
        let mut out = Vec::new();
        value.write_pretty(&mut out, 4, 4, 30).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\n      a: 1,\n      inner: {\n        x: [\n          0, 1, 2, 3, 4, 5, 6,\n          7, 8, 9, 10, 11\n        ],\n        y: 2\n      },\n      rows: [\n        {p: 1},\n        {p: 22222222222}\n      ],\n      ... (3 more members)\n    }"
        );
        for line in text.lines() {
            assert!(line.len() <= 30, "{line:?}");
        }
        // What fits stays on one line.
        let mut out = Vec::new();
        value.write_pretty(&mut out, 0, 0, 500).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
    }
}
