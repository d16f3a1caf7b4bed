//! The small JSON subset the CLI reads and writes: `--json` output, and the
//! `--maps-in` file `{"MAP": {"KEYHEX": "VALUEHEX"}}`. Hand-written because
//! the shapes are fixed and tiny (no extra dependency).

use std::collections::BTreeMap;
use std::fmt::Write as _;

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

/// Parses hex digits (an optional `0x` prefix is allowed) into bytes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() % 2 != 0 {
        return Err(format!("{text:?} has an odd number of hex digits"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("{text:?} is not hex (at digit {i})"))
        })
        .collect()
}

/// `{"MAP": {"KEY": "VALUE", ...}, ...}` as nested maps of strings.
pub type MapsIn = BTreeMap<String, BTreeMap<String, String>>;

/// Parses a `--maps-in` document; errors name the byte offset.
pub fn parse_maps_in(text: &str) -> Result<MapsIn, String> {
    let mut p = Parser {
        text: text.as_bytes(),
        pos: 0,
    };
    let mut out = MapsIn::new();
    p.object(|p, map| {
        let mut entries = BTreeMap::new();
        p.object(|p, key| {
            let value = p.string()?;
            entries.insert(key, value);
            Ok(())
        })?;
        out.insert(map, entries);
        Ok(())
    })?;
    p.skip_ws();
    if p.pos != p.text.len() {
        return Err(format!(
            "unexpected text after the object at byte {}",
            p.pos
        ));
    }
    Ok(out)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.text.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_ws();
        if self.text.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at byte {}",
                char::from(byte),
                self.pos
            ))
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.get(self.pos).copied()
    }

    /// An object whose members are handled by `member(parser, key)`.
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, String) -> Result<(), String>,
    ) -> Result<(), String> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            member(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.pos)),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let Some(&byte) = self.text.get(self.pos) else {
                return Err("unterminated string".to_owned());
            };
            self.pos += 1;
            match byte {
                b'"' => return Ok(out),
                b'\\' => {
                    let escaped = self.text.get(self.pos).copied();
                    self.pos += 1;
                    out.push(match escaped {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        _ => return Err(format!("unsupported escape at byte {}", self.pos - 1)),
                    });
                }
                _ => {
                    // Multi-byte UTF-8 is copied through unchanged.
                    let start = self.pos - 1;
                    let mut end = self.pos;
                    while end < self.text.len() && (self.text[end] & 0xc0) == 0x80 {
                        end += 1;
                    }
                    out.push_str(
                        std::str::from_utf8(&self.text[start..end])
                            .map_err(|_| format!("invalid UTF-8 at byte {start}"))?,
                    );
                    self.pos = end;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_maps_in_shape() {
        let parsed =
            parse_maps_in(r#" { "counters": {"00000000": "2a00000000000000"}, "e": {} } "#)
                .unwrap();
        assert_eq!(parsed["counters"]["00000000"], "2a00000000000000");
        assert!(parsed["e"].is_empty());
    }

    #[test]
    fn rejects_malformed_documents_with_a_place() {
        assert!(parse_maps_in("{").unwrap_err().contains("byte"));
        assert!(parse_maps_in(r#"{"a": {"k": 1}}"#).is_err());
        assert!(parse_maps_in(r#"{"a": {}} x"#).is_err());
        assert!(parse_maps_in(r#"{"a": {"k": "v"#).is_err());
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(parse_hex("0x0aff").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
