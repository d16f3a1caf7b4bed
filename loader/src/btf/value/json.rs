//! Reading a [`Value`] from JSON ([`Value::parse_json`]) or from the value
//! of a command-line `NAME=VALUE` ([`Value::from_text`]).
//!
//! The parser takes all of JSON (RFC 8259): objects keep their members in
//! document order, duplicates included (the encoder refuses those); numbers
//! without a fraction or exponent are [`Integer`]s of up to 128 bits, the
//! others `f64`. Nesting deeper than [`MAX_JSON_DEPTH`] is an error, so the
//! stack is bounded whatever the text.

use thiserror::Error;

use super::tree::{Float, Integer, Value};

/// The deepest nesting of arrays and objects [`Value::parse_json`] reads.
pub const MAX_JSON_DEPTH: usize = 128;

/// Where and why text is not the JSON (or the `NAME=VALUE`) expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What was expected there.
    pub message: String,
}

impl ParseError {
    /// An error at byte `pos` of `text`.
    pub(crate) fn at(text: &str, pos: usize, message: impl Into<String>) -> ParseError {
        let before = text.as_bytes().get(..pos).unwrap_or(text.as_bytes());
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        ParseError {
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            column: String::from_utf8_lossy(&before[line_start..])
                .chars()
                .count()
                + 1,
            message: message.into(),
        }
    }
}

impl Value {
    /// Parses one JSON value (whitespace around it allowed, nothing else).
    ///
    /// ```
    /// use tinybpf_loader::btf::value::{Integer, Value};
    /// let value = Value::parse_json(r#"{"limits": [10, -1], "label": "x"}"#).unwrap();
    /// assert_eq!(value.member("limits"), Some(&Value::List(vec![
    ///     Value::Int(Integer::from(10u8)),
    ///     Value::Int(Integer::from(-1i8)),
    /// ])));
    /// assert!(Value::parse_json("[1,]").unwrap_err().to_string().starts_with("line 1, column 4"));
    /// ```
    pub fn parse_json(text: &str) -> Result<Value, ParseError> {
        let mut parser = Parser { text, pos: 0 };
        let value = parser.value(0)?;
        parser.skip_ws();
        if parser.pos != text.len() {
            return Err(parser.error("unexpected text after the value"));
        }
        Ok(value)
    }

    /// Reads the `VALUE` of a command line's `NAME=VALUE`: an integer
    /// (`5`, `-5`, `0x1f`); JSON when the text starts with `{`, `[` or `"`
    /// (an error if it is not JSON); a JSON float, `true`, `false` or
    /// `null`; and otherwise the text itself as a string (so `name=eth0`
    /// sets a `char` array, `addr=10.0.0.1` too, and `mode=FAST` an enum by
    /// name). Whitespace around the value is ignored; quote a string to
    /// keep it.
    ///
    /// ```
    /// use tinybpf_loader::btf::value::{Integer, Value};
    /// assert_eq!(Value::from_text("0x10").unwrap(), Value::Int(Integer::from(16u8)));
    /// assert_eq!(Value::from_text(" eth0 ").unwrap(), Value::Str("eth0".to_owned()));
    /// assert_eq!(Value::from_text("\" eth0\"").unwrap(), Value::Str(" eth0".to_owned()));
    /// assert!(Value::from_text("{\"a\": }").is_err());
    /// ```
    pub fn from_text(text: &str) -> Result<Value, ParseError> {
        let trimmed = text.trim();
        if let Some(integer) = parse_integer(trimmed) {
            return Ok(Value::Int(integer));
        }
        if trimmed.starts_with(['{', '[', '"']) {
            let offset = text.len() - text.trim_start().len();
            return Value::parse_json(trimmed).map_err(|e| {
                // Columns count in the text as given.
                ParseError {
                    column: if e.line == 1 {
                        e.column + offset
                    } else {
                        e.column
                    },
                    ..e
                }
            });
        }
        // A float, true, false or null; anything else is the text itself.
        if let Ok(value) = Value::parse_json(trimmed) {
            return Ok(value);
        }
        Ok(Value::Str(trimmed.to_owned()))
    }
}

/// An integer as people write it: decimal, or hex with `0x`, either with a
/// leading `-`; `None` for anything else or more than 128 bits.
pub(crate) fn parse_integer(text: &str) -> Option<Integer> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (radix, digits) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => (16, hex),
        None => (10, digits),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(digits, radix)
        .ok()
        .map(|magnitude| Integer::new(negative, magnitude))
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::at(self.text, self.pos, message)
    }

    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    fn skip_ws(&mut self) {
        while self
            .bytes()
            .get(self.pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes().get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(_) => Err(self
                .error("expected a value (an object, array, string, number, true, false or null)")),
            None => Err(self.error("expected a value, found the end of the text")),
        }
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, ParseError> {
        if self.bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self
                .error("expected a value (an object, array, string, number, true, false or null)"))
        }
    }

    fn enter(&self, depth: usize) -> Result<usize, ParseError> {
        if depth >= MAX_JSON_DEPTH {
            Err(self.error(format!(
                "arrays and objects nested deeper than {MAX_JSON_DEPTH} levels"
            )))
        } else {
            Ok(depth + 1)
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        let depth = self.enter(depth)?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::List(items));
        }
        loop {
            items.push(self.value(depth)?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        let depth = self.enter(depth)?;
        self.pos += 1; // '{'
        let mut members = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name in double quotes"));
            }
            let name = self.string()?;
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after the member name"));
            }
            self.pos += 1;
            members.push((name, self.value(depth)?));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    /// A number, checked against JSON's grammar before it is converted.
    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.bytes().get(p.pos).is_some_and(u8::is_ascii_digit) {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.bytes().get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_digits = digits(self);
        if int_digits == 0 {
            return Err(self.error("expected a digit"));
        }
        if int_digits > 1 && self.bytes()[int_start] == b'0' {
            return Err(ParseError::at(
                self.text,
                int_start,
                "a number cannot start with 0 (write hex as a string: \"0x10\")",
            ));
        }
        let mut integral = true;
        if self.bytes().get(self.pos) == Some(&b'.') {
            self.pos += 1;
            integral = false;
            if digits(self) == 0 {
                return Err(self.error("expected a digit after '.'"));
            }
        }
        if matches!(self.bytes().get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            integral = false;
            if matches!(self.bytes().get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        let text = &self.text[start..self.pos];
        if integral {
            return parse_integer(text).map(Value::Int).ok_or_else(|| {
                ParseError::at(self.text, start, "an integer of more than 128 bits")
            });
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Value::Float(Float::Double(value))),
            _ => Err(ParseError::at(
                self.text,
                start,
                "a number too large for a 64-bit float",
            )),
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            // Copy the run of ordinary characters at once.
            let run = rest
                .find(|c: char| c == '"' || c == '\\' || u32::from(c) < 0x20)
                .ok_or_else(|| self.error("the string is not closed"))?;
            out.push_str(&rest[..run]);
            self.pos += run;
            match self.bytes()[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                _ => {
                    return Err(
                        self.error("a control character in a string (write it as an escape)")
                    );
                }
            }
        }
    }

    /// The character of the escape after a backslash.
    fn escape(&mut self) -> Result<char, ParseError> {
        let Some(&byte) = self.bytes().get(self.pos) else {
            return Err(self.error("the string is not closed"));
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
                let lone = "a lone surrogate in a \\u escape";
                let high = self.hex4()?;
                let code = if (0xd800..0xdc00).contains(&high) {
                    if !self.bytes()[self.pos..].starts_with(b"\\u") {
                        return Err(self.error(lone));
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&low) {
                        return Err(self.error(lone));
                    }
                    0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
                } else {
                    high
                };
                char::from_u32(code).ok_or_else(|| self.error(lone))?
            }
            _ => {
                self.pos -= 1;
                return Err(self.error("an unknown escape in a string"));
            }
        })
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self
            .bytes()
            .get(self.pos..self.pos + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
        self.pos += 4;
        Ok(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i64) -> Value {
        Value::Int(v.into())
    }

    fn err(text: &str) -> (usize, usize, String) {
        let e = Value::parse_json(text).unwrap_err();
        (e.line, e.column, e.message)
    }

    #[test]
    fn parses_every_kind_of_value() {
        let value = Value::parse_json(
            " {\"a\": [1, -2, 3.5, 1e3, true, false, null], \"b\": {}, \"a\": \"x\"} ",
        )
        .unwrap();
        assert_eq!(
            value,
            Value::Object(vec![
                (
                    "a".to_owned(),
                    Value::List(vec![
                        int(1),
                        int(-2),
                        Value::Float(Float::Double(3.5)),
                        Value::Float(Float::Double(1000.0)),
                        Value::Bool(true),
                        Value::Bool(false),
                        Value::Null,
                    ])
                ),
                ("b".to_owned(), Value::Object(vec![])),
                ("a".to_owned(), Value::Str("x".to_owned())),
            ]),
            "members keep document order and duplicates"
        );
        assert_eq!(
            Value::parse_json("340282366920938463463374607431768211455").unwrap(),
            Value::Int(u128::MAX.into())
        );
        assert_eq!(
            Value::parse_json("-170141183460469231731687303715884105728").unwrap(),
            Value::Int(i128::MIN.into())
        );
        assert_eq!(Value::parse_json("-0").unwrap(), int(0));
        assert_eq!(
            Value::parse_json(r#""a\"b\\\/\n\u00e9\ud83d\ude00""#).unwrap(),
            Value::Str("a\"b\\/\né😀".to_owned())
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        assert_eq!(err("[1,]").0..=err("[1,]").1, 1..=4);
        assert_eq!(
            err("{\n  \"a\" 1}"),
            (2, 7, "expected ':' after the member name".to_owned())
        );
        assert_eq!(
            err("01").2,
            "a number cannot start with 0 (write hex as a string: \"0x10\")"
        );
        assert_eq!(err("1.").2, "expected a digit after '.'");
        assert_eq!(err("1e").2, "expected a digit in the exponent");
        assert_eq!(err("-").2, "expected a digit");
        assert_eq!(err("1e999").2, "a number too large for a 64-bit float");
        assert_eq!(
            err("340282366920938463463374607431768211456").2,
            "an integer of more than 128 bits"
        );
        assert_eq!(err("\"abc").2, "the string is not closed");
        assert_eq!(
            err("\"a\tb\"").2,
            "a control character in a string (write it as an escape)"
        );
        assert_eq!(err(r#""\x""#).2, "an unknown escape in a string");
        assert_eq!(err(r#""\ud800""#).2, "a lone surrogate in a \\u escape");
        assert_eq!(err(r#""\u12""#).2, "expected four hex digits after \\u");
        assert_eq!(
            err("tru").2,
            "expected a value (an object, array, string, number, true, false or null)"
        );
        assert_eq!(err("").2, "expected a value, found the end of the text");
        assert_eq!(err("1 2").2, "unexpected text after the value");
        assert_eq!(err("{1: 2}").2, "expected a member name in double quotes");
        assert_eq!(err("[1 2]").2, "expected ',' or ']' in an array");
        assert_eq!(
            err("{\"a\": 1 \"b\"}").2,
            "expected ',' or '}' in an object"
        );
        // Column counts characters, not bytes.
        assert_eq!(err("\"é\" x").1, 5);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_JSON_DEPTH) + &"]".repeat(MAX_JSON_DEPTH);
        assert!(Value::parse_json(&deep).is_ok());
        let deeper = "[".repeat(100_000);
        let e = Value::parse_json(&deeper).unwrap_err();
        assert_eq!(e.column, MAX_JSON_DEPTH + 1);
        assert!(e.message.contains("nested deeper than 128"));
    }

    #[test]
    fn command_line_values() {
        assert_eq!(Value::from_text("42").unwrap(), int(42));
        assert_eq!(Value::from_text("-0x10").unwrap(), int(-16));
        assert_eq!(Value::from_text("0XfF").unwrap(), int(255));
        assert_eq!(
            Value::from_text("007").unwrap(),
            int(7),
            "leading zeros are decimal"
        );
        assert_eq!(
            Value::from_text("1.5").unwrap(),
            Value::Float(Float::Double(1.5))
        );
        assert_eq!(Value::from_text("true").unwrap(), Value::Bool(true));
        assert_eq!(
            Value::from_text("[1, 2]").unwrap(),
            Value::List(vec![int(1), int(2)])
        );
        assert_eq!(
            Value::from_text("PROTO_UDP").unwrap(),
            Value::Str("PROTO_UDP".to_owned())
        );
        assert_eq!(Value::from_text("").unwrap(), Value::Str(String::new()));
        assert_eq!(
            Value::from_text("hello world").unwrap(),
            Value::Str("hello world".to_owned())
        );
        let e = Value::from_text("  [1,").unwrap_err();
        assert_eq!(
            (e.line, e.column),
            (1, 6),
            "columns count the leading spaces"
        );
        assert_eq!(
            Value::from_text("10.0.0.1").unwrap(),
            Value::Str("10.0.0.1".to_owned())
        );
        assert_eq!(Value::from_text("-").unwrap(), Value::Str("-".to_owned()));
        assert_eq!(
            Value::from_text("1e3").unwrap(),
            Value::Float(Float::Double(1000.0))
        );
    }
}
