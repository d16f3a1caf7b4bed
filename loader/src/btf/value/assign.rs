//! `NAME=VALUE` and `NAME.member[index]=VALUE`: a command line's assignment
//! to a variable or to a part of it, turned into the bytes to write.

use super::MAX_NESTING;
use super::encode::{encode_bits, encode_with};
use super::error::{PathStep, Problem, ValueError};
use super::json::ParseError;
use super::layout::{Place, Walk};
use super::tree::Value;
use crate::btf::{Btf, Type, TypeId};

/// An assignment `NAME(.MEMBER | [INDEX])* = VALUE`: `limit=5`,
/// `config.limits[2]=300`, `config={"scale": 3}`, `name=eth0`.
///
/// ```
/// use tinybpf_loader::btf::value::{Assignment, Integer, PathStep, Value};
/// let a = Assignment::parse("config.limits[2] = 0x10").unwrap();
/// assert_eq!(a.name, "config");
/// assert_eq!(a.path, [PathStep::Member("limits".to_owned()), PathStep::Index(2)]);
/// assert_eq!(a.value, Value::Int(Integer::from(16u8)));
/// assert!(Assignment::parse("config.=1").is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The variable (or other named value) assigned to.
    pub name: String,
    /// The members and indexes inside it, outermost first.
    pub path: Vec<PathStep>,
    /// The value, read by [`Value::from_text`].
    pub value: Value,
}

/// What an assignment writes: `bytes` at `offset` in the value assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// Where the bytes go, from the start of the value (or, from
    /// [`assign_global`](super::assign_global), of the data section).
    pub offset: usize,
    /// The new bytes: for a bitfield, the bytes that hold it, the other
    /// bits as they were.
    pub bytes: Vec<u8>,
}

impl Patch {
    /// Writes the patch into `target`; `false` (and nothing written) when
    /// it does not lie inside.
    pub fn apply_to(&self, target: &mut [u8]) -> bool {
        let range = self.offset..self.offset.saturating_add(self.bytes.len());
        match target.get_mut(range) {
            Some(place) => {
                place.copy_from_slice(&self.bytes);
                true
            }
            None => false,
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Assignment {
    /// Parses `NAME(.MEMBER | [INDEX])* = VALUE`. Names are C identifiers
    /// (a leading `.` is allowed in NAME, for a section such as `.rodata`);
    /// indexes are decimal or `0x` hex; spaces around the parts are
    /// ignored. VALUE is read by [`Value::from_text`].
    pub fn parse(text: &str) -> Result<Assignment, ParseError> {
        let Some(equals) = text.find('=') else {
            return Err(ParseError::at(
                text,
                text.len(),
                "expected NAME=VALUE (no '=' found)",
            ));
        };
        let target = &text[..equals];
        let value_text = &text[equals + 1..];
        let value = Value::from_text(value_text).map_err(|e| ParseError {
            column: if e.line == 1 {
                e.column + equals + 1
            } else {
                e.column
            },
            ..e
        })?;
        let mut pos = target.len() - target.trim_start().len();
        let name_len = target[pos..]
            .char_indices()
            .find(|&(i, c)| !(is_name_char(c) || (i == 0 && c == '.')))
            .map_or(target.len() - pos, |(i, _)| i);
        if name_len == 0 || target[pos..pos + name_len] == *"." {
            return Err(ParseError::at(text, pos, "expected a name before '='"));
        }
        let name = target[pos..pos + name_len].to_owned();
        pos += name_len;
        let mut path = Vec::new();
        let bytes = target.as_bytes();
        loop {
            while bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
                pos += 1;
            }
            match bytes.get(pos) {
                None => break,
                Some(b'.') => {
                    pos += 1;
                    while bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
                        pos += 1;
                    }
                    let len = target[pos..]
                        .find(|c: char| !is_name_char(c))
                        .unwrap_or(target.len() - pos);
                    if len == 0 {
                        return Err(ParseError::at(
                            text,
                            pos,
                            "expected a member name after '.'",
                        ));
                    }
                    path.push(PathStep::Member(target[pos..pos + len].to_owned()));
                    pos += len;
                }
                Some(b'[') => {
                    let close = target[pos..]
                        .find(']')
                        .ok_or_else(|| ParseError::at(text, pos, "'[' without its ']'"))?;
                    let inside = target[pos + 1..pos + close].trim();
                    let index = super::json::parse_integer(inside)
                        .filter(|i| !i.is_negative())
                        .and_then(|i| u64::try_from(i.magnitude()).ok())
                        .ok_or_else(|| {
                            ParseError::at(text, pos + 1, "expected an index (a number) in '[...]'")
                        })?;
                    path.push(PathStep::Index(index));
                    pos += close + 1;
                }
                Some(_) => {
                    return Err(ParseError::at(
                        text,
                        pos,
                        "expected '.MEMBER', '[INDEX]' or '=' after the name",
                    ));
                }
            }
            if path.len() > MAX_NESTING {
                return Err(ParseError::at(
                    text,
                    pos,
                    format!("a path longer than {MAX_NESTING} steps"),
                ));
            }
        }
        Ok(Assignment { name, path, value })
    }

    /// The bytes to write for this assignment into a value of type `id`
    /// whose bytes are now `current` (exactly the type's size; read only
    /// for the other bits of a bitfield). The part the path names is
    /// replaced whole, by [`encode`](super::encode)'s rules (members not
    /// given are zero); errors' paths start with [`Assignment::name`].
    ///
    /// ```
    /// use tinybpf_loader::btf::value::Assignment;
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/btf_globals.o");
    /// let object = tinybpf_loader::Object::open(path).unwrap();
    /// let btf = object.btf.as_ref().unwrap();
    /// let config = object.variable("config").unwrap().type_id.unwrap();
    /// let mut bytes = [3, 0, 0, 0, 0xfe, 0xff, 0x81, 0b1101];
    /// let patch = Assignment::parse("config.mode=2").unwrap().apply(btf, config, &bytes).unwrap();
    /// assert_eq!((patch.offset, patch.bytes.as_slice()), (7, &[0b1010][..]));
    /// assert!(patch.apply_to(&mut bytes));
    /// let error = Assignment::parse("config.mode=9").unwrap().apply(btf, config, &bytes).unwrap_err();
    /// assert_eq!(error.to_string(), "config.mode (__u8): 9 does not fit: it holds 0 to 7");
    /// ```
    pub fn apply(&self, btf: &Btf, id: TypeId, current: &[u8]) -> Result<Patch, ValueError> {
        let mut walk = Walk::new(btf, &self.name);
        let size = walk.size_of(id)?;
        if size != current.len() as u64 {
            return Err(walk.error(
                id,
                Problem::WrongSize {
                    expected: size,
                    actual: current.len() as u64,
                },
            ));
        }
        // The part named: its type, and where it lies (bits from the start).
        let mut place = Place {
            type_id: id,
            bit_offset: 0,
            bitfield: None,
        };
        let mut depth = 0;
        for step in &self.path {
            if place.bitfield.is_some() {
                return Err(walk.error(
                    place.type_id,
                    Problem::NoSuchStep {
                        kind: "bitfield",
                        what: "members or elements",
                    },
                ));
            }
            let (resolved, ty) = walk.resolved(place.type_id)?;
            let base = place.bit_offset;
            place = match (step, ty) {
                (PathStep::Member(name), Type::Struct(c) | Type::Union(c)) => {
                    let index = walk.member_index(c, depth)?;
                    let Some(member) = index.by_name.get(name.as_str()) else {
                        let members = super::error::name_list(index.order.iter().copied(), 24);
                        return Err(walk.error(
                            resolved,
                            Problem::UnknownMember {
                                name: name.clone(),
                                members,
                            },
                        ));
                    };
                    let mut member = *member;
                    member.bit_offset += base;
                    if let Some((start, bits)) = walk.int_bits(&member)? {
                        member.bit_offset = start;
                        member.bitfield = Some(bits);
                    }
                    member
                }
                (PathStep::Index(i), Type::Array(array)) => {
                    if *i >= u64::from(array.len) {
                        return Err(walk.error(
                            resolved,
                            Problem::IndexOutOfRange {
                                index: *i,
                                len: u64::from(array.len),
                            },
                        ));
                    }
                    let elem_size = walk.size_of(array.elem)?;
                    Place {
                        type_id: array.elem,
                        bit_offset: base + i * elem_size * 8,
                        bitfield: None,
                    }
                }
                (PathStep::Member(_), other) => {
                    return Err(walk.error(
                        place.type_id,
                        Problem::NoSuchStep {
                            kind: other.kind_name(),
                            what: "members",
                        },
                    ));
                }
                (PathStep::Index(_), other) => {
                    return Err(walk.error(
                        place.type_id,
                        Problem::NoSuchStep {
                            kind: other.kind_name(),
                            what: "elements",
                        },
                    ));
                }
            };
            walk.steps.push(step.clone());
            depth += 1;
            walk.check_depth(place.type_id, depth)?;
        }
        if let Some(bits) = place.bitfield {
            let first = place.bit_offset / 8;
            let end = (place.bit_offset + u64::from(bits)).div_ceil(8);
            let mut bytes = current
                .get(first as usize..end as usize)
                .ok_or_else(|| {
                    walk.error(
                        place.type_id,
                        Problem::Outside {
                            bit_offset: place.bit_offset,
                            bits: u64::from(bits),
                            outer_bytes: current.len() as u64,
                        },
                    )
                })?
                .to_vec();
            let start = place.bit_offset % 8;
            encode_bits(walk, place.type_id, &self.value, &mut bytes, start, bits)?;
            return Ok(Patch {
                offset: first as usize,
                bytes,
            });
        }
        let range = walk.byte_range(&place, current.len())?;
        let mut bytes = vec![0; range.len()];
        encode_with(walk, place.type_id, &self.value, &mut bytes, depth)?;
        Ok(Patch {
            offset: range.start,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> (usize, String) {
        let e = Assignment::parse(text).unwrap_err();
        (e.column, e.message)
    }

    #[test]
    fn paths_and_values_parse() {
        let a = Assignment::parse(" cfg . flags [ 0x1 ] [3].x = \"a=b\"").unwrap();
        assert_eq!(a.name, "cfg");
        assert_eq!(
            a.path,
            [
                PathStep::Member("flags".to_owned()),
                PathStep::Index(1),
                PathStep::Index(3),
                PathStep::Member("x".to_owned()),
            ]
        );
        assert_eq!(
            a.value,
            Value::Str("a=b".to_owned()),
            "the first '=' splits"
        );
        let a = Assignment::parse(".rodata={}").unwrap();
        assert_eq!(
            (a.name.as_str(), a.value),
            (".rodata", Value::Object(vec![]))
        );
        assert_eq!(
            Assignment::parse("x=").unwrap().value,
            Value::Str(String::new())
        );
    }

    #[test]
    fn bad_assignments_say_where() {
        assert_eq!(
            parse_err("limit"),
            (6, "expected NAME=VALUE (no '=' found)".to_owned())
        );
        assert_eq!(
            parse_err("=5"),
            (1, "expected a name before '='".to_owned())
        );
        assert_eq!(
            parse_err(".=5"),
            (1, "expected a name before '='".to_owned())
        );
        assert_eq!(
            parse_err("a.=5"),
            (3, "expected a member name after '.'".to_owned())
        );
        assert_eq!(parse_err("a[2=5"), (2, "'[' without its ']'".to_owned()));
        assert_eq!(
            parse_err("a[-1]=5"),
            (3, "expected an index (a number) in '[...]'".to_owned())
        );
        assert_eq!(
            parse_err("a[x]=5"),
            (3, "expected an index (a number) in '[...]'".to_owned())
        );
        assert_eq!(
            parse_err("a b=5"),
            (
                3,
                "expected '.MEMBER', '[INDEX]' or '=' after the name".to_owned()
            )
        );
        assert_eq!(
            parse_err("a=[1,"),
            (6, "expected a value, found the end of the text".to_owned())
        );
        let long = format!("a{}=1", ".b".repeat(MAX_NESTING + 1));
        assert!(parse_err(&long).1.starts_with("a path longer than"));
    }

    #[test]
    fn patches_apply_only_inside() {
        let patch = Patch {
            offset: 2,
            bytes: vec![9, 9],
        };
        let mut target = [0u8; 4];
        assert!(patch.apply_to(&mut target));
        assert_eq!(target, [0, 0, 9, 9]);
        let mut short = [0u8; 3];
        assert!(!patch.apply_to(&mut short));
        assert_eq!(short, [0; 3]);
    }
}
