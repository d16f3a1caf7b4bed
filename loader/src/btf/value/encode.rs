//! [`Value`] to bytes: the inverse of [`format`](fn@super::format), for
//! setting map entries and global variables from JSON or a command line.
//!
//! The bytes start all zero, and only what the value gives is written: a
//! struct's members left out stay zero (as in a C initializer), an array
//! given fewer elements keeps zeros after them, a string is written with
//! its NUL. For a union, give one member; several are written in the order
//! given, each over the bytes it covers, so the union a formatted value
//! shows reads back as the same bytes. Time is linear in the value given
//! (plus one pass over each struct type's members), whatever the type's size.

use std::collections::{HashMap, HashSet};

use super::error::{PathStep, Problem, ValueError, describe, name_list};
use super::json::parse_integer;
use super::layout::{MemberIndex, Place, Walk, is_byte, low_mask, write_bits};
use super::tree::{ELIDED_KEY, Float, Integer, Value, is_elision_text};
use crate::btf::{Btf, Composite, Enum, Int, Type, TypeId, VarSecInfo};

/// The bytes of `value` as type `id` (the type's size, all zero but for
/// what `value` gives). Errors name the place (`limits[2]`) and its type.
///
/// ```
/// use tinybpf_loader::btf::value::{Value, encode};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/btf_globals.o");
/// let object = tinybpf_loader::Object::open(path).unwrap();
/// let btf = object.btf.as_ref().unwrap();
/// let config = object.variable("config").unwrap().type_id.unwrap();
/// let value = Value::parse_json(r#"{"scale": 3, "offset": -2, "mode": 5, "verbose": 1}"#).unwrap();
/// assert_eq!(encode(btf, config, &value).unwrap(), [3, 0, 0, 0, 0xfe, 0xff, 0, 0b1101]);
/// let error = encode(btf, config, &Value::parse_json(r#"{"mode": 8}"#).unwrap()).unwrap_err();
/// assert_eq!(error.to_string(), "mode (__u8): 8 does not fit: it holds 0 to 7");
/// ```
pub fn encode(btf: &Btf, id: TypeId, value: &Value) -> Result<Vec<u8>, ValueError> {
    let walk = Walk::new(btf, "");
    let size = walk.size_of(id)?;
    let mut out = vec![0; size as usize];
    Encoder::new(walk).put(id, value, &mut out, 0)?;
    Ok(out)
}

/// [`encode`] into `out`, which must be exactly the type's size (a map's
/// value buffer, say); `out` is zeroed first. Errors' paths start at `root`.
pub fn encode_into(
    btf: &Btf,
    root: &str,
    id: TypeId,
    value: &Value,
    out: &mut [u8],
) -> Result<(), ValueError> {
    let walk = Walk::new(btf, root);
    let size = walk.size_of(id)?;
    if size != out.len() as u64 {
        return Err(walk.error(
            id,
            Problem::WrongSize {
                expected: size,
                actual: out.len() as u64,
            },
        ));
    }
    out.fill(0);
    Encoder::new(walk).put(id, value, out, 0)
}

/// Writes `value` as the bitfield of `bits` bits at bit `start` of `out`,
/// of integer or enum type `id`, leaving the other bits.
pub(crate) fn encode_bits(
    walk: Walk<'_>,
    id: TypeId,
    value: &Value,
    out: &mut [u8],
    start: u64,
    bits: u32,
) -> Result<(), ValueError> {
    Encoder::new(walk).put_bits(id, value, out, start, bits)
}

/// [`encode_into`] from a walk already under way (a path's end).
pub(crate) fn encode_with(
    walk: Walk<'_>,
    id: TypeId,
    value: &Value,
    out: &mut [u8],
    depth: usize,
) -> Result<(), ValueError> {
    Encoder::new(walk).put(id, value, out, depth)
}

struct Encoder<'a> {
    walk: Walk<'a>,
    /// Each struct's members by name, built once per type.
    indexes: HashMap<TypeId, MemberIndex<'a>>,
}

/// What an integer's bits mean.
#[derive(Clone, Copy)]
struct IntKind {
    bits: u32,
    signed: bool,
    bool: bool,
    char: bool,
}

impl IntKind {
    fn of(int: &Int, bits: u32) -> IntKind {
        IntKind {
            bits,
            signed: int.signed,
            bool: int.bool,
            char: int.size == 1 && (int.char || int.name == "char"),
        }
    }
}

impl<'a> Encoder<'a> {
    fn new(walk: Walk<'a>) -> Encoder<'a> {
        Encoder {
            walk,
            indexes: HashMap::new(),
        }
    }

    /// Writes `value` as type `id` into `out` (exactly the type's size).
    fn put(
        &mut self,
        id: TypeId,
        value: &Value,
        out: &mut [u8],
        depth: usize,
    ) -> Result<(), ValueError> {
        self.walk.check_depth(id, depth)?;
        if is_elided(value) {
            return Err(self.walk.error(id, Problem::Elided));
        }
        let (resolved, ty) = self.walk.resolved(id)?;
        let fail = |walk: &Walk<'_>, problem| walk.error(id, problem);
        match ty {
            Type::Int(int) => {
                let kind = IntKind::of(int, u32::from(int.bits));
                let raw = int_bits(value, kind).map_err(|p| fail(&self.walk, p))?;
                self.write(id, out, u64::from(int.bit_offset), kind.bits, raw)
            }
            Type::Enum(e) => {
                let raw = enum_bits(e, value, e.size * 8).map_err(|p| fail(&self.walk, p))?;
                self.write(id, out, 0, e.size * 8, raw)
            }
            Type::Ptr { .. } => {
                let kind = IntKind {
                    bits: 64,
                    signed: false,
                    bool: false,
                    char: false,
                };
                let raw = int_bits(value, kind).map_err(|p| fail(&self.walk, p))?;
                self.write(id, out, 0, 64, raw)
            }
            Type::Float { size, .. } => {
                let bytes = float_bytes(value, *size).map_err(|p| fail(&self.walk, p))?;
                out.copy_from_slice(&bytes);
                Ok(())
            }
            Type::Array(array) => self.array(id, array.elem, array.len, value, out, depth),
            Type::Struct(c) | Type::Union(c) => {
                let Value::Object(members) = value else {
                    return Err(self.expected(id, "an object", value));
                };
                let mut seen = HashSet::new();
                self.members(resolved, c, members, out, depth, &mut seen)
            }
            Type::Var { target, .. } => self.put(*target, value, out, depth + 1),
            Type::Datasec { vars, .. } => self.datasec(id, vars, value, out, depth),
            other => Err(self.walk.error(
                resolved,
                Problem::NoValue {
                    kind: other.kind_name(),
                },
            )),
        }
    }

    fn write(
        &self,
        id: TypeId,
        out: &mut [u8],
        start: u64,
        bits: u32,
        raw: u128,
    ) -> Result<(), ValueError> {
        write_bits(out, start, bits, raw).ok_or_else(|| {
            self.walk.error(
                id,
                Problem::Outside {
                    bit_offset: start,
                    bits: u64::from(bits),
                    outer_bytes: out.len() as u64,
                },
            )
        })
    }

    fn expected(&self, id: TypeId, expected: &'static str, value: &Value) -> ValueError {
        self.walk.error(
            id,
            Problem::Expected {
                expected,
                found: describe(value),
            },
        )
    }

    /// A bitfield of type `id` (an integer or enum).
    fn put_bits(
        &mut self,
        id: TypeId,
        value: &Value,
        out: &mut [u8],
        start: u64,
        bits: u32,
    ) -> Result<(), ValueError> {
        if is_elided(value) {
            return Err(self.walk.error(id, Problem::Elided));
        }
        self.walk.bitfield_signed(id, bits)?;
        let raw = match self.walk.resolved(id)?.1 {
            Type::Enum(e) => enum_bits(e, value, bits),
            Type::Int(int) => int_bits(value, IntKind::of(int, bits)),
            other => Err(Problem::BadBitfield {
                bits,
                kind: other.kind_name(),
                type_bits: 0,
            }),
        }
        .map_err(|p| self.walk.error(id, p))?;
        self.write(id, out, start, bits, raw)
    }

    fn array(
        &mut self,
        id: TypeId,
        elem: TypeId,
        len: u32,
        value: &Value,
        out: &mut [u8],
        depth: usize,
    ) -> Result<(), ValueError> {
        let elem_size = self.walk.size_of(elem)?;
        match value {
            Value::Str(text) if elem_size == 1 && is_byte(self.walk.btf, elem) => {
                let bytes = text.as_bytes();
                if bytes.len() >= len as usize {
                    return Err(self.walk.error(
                        id,
                        Problem::StringTooLong {
                            bytes: bytes.len() as u64 + 1,
                            capacity: u64::from(len),
                        },
                    ));
                }
                out[..bytes.len()].copy_from_slice(bytes);
                out[bytes.len()] = 0;
                Ok(())
            }
            Value::List(items) => {
                if items.len() as u64 > u64::from(len) {
                    return Err(self.walk.error(
                        id,
                        Problem::TooManyElements {
                            given: items.len() as u64,
                            len: u64::from(len),
                        },
                    ));
                }
                self.walk.check_depth(id, depth + 1)?;
                for (index, item) in items.iter().enumerate() {
                    self.walk.steps.push(PathStep::Index(index as u64));
                    let place = Place {
                        type_id: elem,
                        bit_offset: index as u64 * elem_size * 8,
                        bitfield: None,
                    };
                    let result = self
                        .walk
                        .byte_range(&place, out.len())
                        .and_then(|range| self.put(elem, item, &mut out[range], depth + 1));
                    self.walk.steps.pop();
                    result?;
                }
                Ok(())
            }
            other => Err(self.expected(
                id,
                if is_byte(self.walk.btf, elem) {
                    "an array or a string"
                } else {
                    "an array"
                },
                other,
            )),
        }
    }

    /// The members given in `members`, into the struct or union `c` (type `id`).
    fn members(
        &mut self,
        id: TypeId,
        c: &'a Composite,
        members: &[(String, Value)],
        out: &mut [u8],
        depth: usize,
        seen: &mut HashSet<String>,
    ) -> Result<(), ValueError> {
        if !self.indexes.contains_key(&id) {
            let index = self.walk.member_index(c, depth)?;
            self.indexes.insert(id, index);
        }
        for (name, value) in members {
            if name == ELIDED_KEY && matches!(value, Value::Elided { .. } | Value::Str(_)) {
                return Err(self.walk.error(id, Problem::Elided));
            }
            // bpftool writes an anonymous member as "": {...}.
            if name.is_empty()
                && let Value::Object(inner) = value
            {
                self.members(id, c, inner, out, depth, seen)?;
                continue;
            }
            let Some(place) = self.indexes[&id].by_name.get(name.as_str()).copied() else {
                let members = name_list(self.indexes[&id].order.iter().copied(), 24);
                return Err(self.walk.error(
                    id,
                    Problem::UnknownMember {
                        name: name.clone(),
                        members,
                    },
                ));
            };
            if !seen.insert(name.clone()) {
                return Err(self
                    .walk
                    .error(id, Problem::DuplicateMember { name: name.clone() }));
            }
            self.walk.steps.push(PathStep::Member(name.clone()));
            let result = self.member(&place, value, out, depth);
            self.walk.steps.pop();
            result?;
        }
        Ok(())
    }

    fn member(
        &mut self,
        place: &Place,
        value: &Value,
        out: &mut [u8],
        depth: usize,
    ) -> Result<(), ValueError> {
        if let Some((start, bits)) = self.walk.int_bits(place)? {
            return self.put_bits(place.type_id, value, out, start, bits);
        }
        let range = self.walk.byte_range(place, out.len())?;
        self.put(place.type_id, value, &mut out[range], depth + 1)
    }

    /// A data section whose BTF gives its size and its variables' offsets.
    fn datasec(
        &mut self,
        id: TypeId,
        vars: &[VarSecInfo],
        value: &Value,
        out: &mut [u8],
        depth: usize,
    ) -> Result<(), ValueError> {
        let Value::Object(members) = value else {
            return Err(self.expected(id, "an object", value));
        };
        let btf = self.walk.btf;
        let by_name: HashMap<&str, (TypeId, u32)> = vars
            .iter()
            .filter_map(|info| match btf.get(info.var) {
                Ok(Type::Var { name, target, .. }) => Some((name.as_str(), (*target, info.offset))),
                _ => None,
            })
            .collect();
        let mut seen = HashSet::new();
        for (name, member) in members {
            let Some(&(target, offset)) = by_name.get(name.as_str()) else {
                let known = name_list(by_name.keys().copied(), 24);
                return Err(self.walk.error(
                    id,
                    Problem::UnknownMember {
                        name: name.clone(),
                        members: known,
                    },
                ));
            };
            if !seen.insert(name.as_str()) {
                return Err(self
                    .walk
                    .error(id, Problem::DuplicateMember { name: name.clone() }));
            }
            self.walk.steps.push(PathStep::Member(name.clone()));
            let place = Place {
                type_id: target,
                bit_offset: u64::from(offset) * 8,
                bitfield: None,
            };
            let result = self
                .walk
                .byte_range(&place, out.len())
                .and_then(|range| self.put(target, member, &mut out[range], depth + 1));
            self.walk.steps.pop();
            result?;
        }
        Ok(())
    }
}

/// Whether a value is a part [`format`](fn@super::format) left out, or the
/// JSON string it writes for one.
fn is_elided(value: &Value) -> bool {
    match value {
        Value::Elided { .. } | Value::Truncated { .. } => true,
        Value::Str(text) => is_elision_text(text),
        _ => false,
    }
}

/// The integer a value gives for an integer type, as the low `kind.bits`
/// bits, checked against the type's range.
fn int_bits(value: &Value, kind: IntKind) -> Result<u128, Problem> {
    let expected = if kind.bool {
        "true, false or a number"
    } else if kind.char {
        "a number or a one-character string"
    } else {
        "an integer"
    };
    let number = match value {
        Value::Bool(b) if kind.bool => Integer::from(u8::from(*b)),
        // For a char, a one-character string is the character ("5" is 53).
        Value::Str(text) if kind.char && text.len() == 1 => Integer::from(text.as_bytes()[0]),
        Value::Str(text) | Value::Enumerator(text) => {
            parse_integer(text.trim()).ok_or_else(|| Problem::Expected {
                expected,
                found: describe(value),
            })?
        }
        other => integer_of(other, expected)?,
    };
    let (min, max) = if kind.signed {
        let half = 1u128 << (kind.bits - 1);
        (Integer::new(true, half), Integer::from(half - 1))
    } else {
        (Integer::from(0u8), Integer::from(low_mask(kind.bits)))
    };
    in_range(number, min, max, kind.bits)
}

/// An integer from a number (a float only when it has no fraction).
fn integer_of(value: &Value, expected: &'static str) -> Result<Integer, Problem> {
    match value {
        Value::Int(number) => Ok(*number),
        Value::Float(f) => {
            let x = f.to_f64();
            if x.fract() != 0.0 || !x.is_finite() {
                return Err(Problem::NotInteger {
                    value: f.to_string(),
                });
            }
            // |x| < 2^128 is exact as a u128; larger fails the range check.
            let magnitude = if x.abs() < 3.4e38 {
                x.abs() as u128
            } else {
                u128::MAX
            };
            Ok(Integer::new(x < 0.0, magnitude))
        }
        other => Err(Problem::Expected {
            expected,
            found: describe(other),
        }),
    }
}

/// `number`'s low `bits` bits (two's complement) when `min <= number <= max`.
fn in_range(number: Integer, min: Integer, max: Integer, bits: u32) -> Result<u128, Problem> {
    let below = |a: Integer, b: Integer| match (a.is_negative(), b.is_negative()) {
        (true, false) => true,
        (false, true) => false,
        (false, false) => a.magnitude() < b.magnitude(),
        (true, true) => a.magnitude() > b.magnitude(),
    };
    if below(number, min) || below(max, number) {
        return Err(Problem::OutOfRange {
            value: number.to_string(),
            min: min.to_string(),
            max: max.to_string(),
        });
    }
    let raw = if number.is_negative() {
        0u128.wrapping_sub(number.magnitude())
    } else {
        number.magnitude()
    };
    Ok(raw & low_mask(bits))
}

/// An enum's bits: an enumerator by name, or a number that fits the width
/// read either signed or unsigned (BTF from older compilers does not say
/// whether an enum is signed).
fn enum_bits(e: &Enum, value: &Value, bits: u32) -> Result<u128, Problem> {
    let name = match value {
        Value::Str(text) | Value::Enumerator(text) => Some(text.trim()),
        _ => None,
    };
    if let Some(name) = name
        && parse_integer(name).is_none()
    {
        return match e.values.iter().find(|(n, _)| n == name) {
            Some((_, v)) => Ok((*v as u64 as u128) & low_mask(bits)),
            None => Err(Problem::UnknownEnumerator {
                name: name.to_owned(),
                known: name_list(e.values.iter().map(|(n, _)| n.as_str()), 24),
            }),
        };
    }
    let number = match name {
        Some(text) => parse_integer(text).unwrap_or(Integer::from(0u8)),
        None => integer_of(value, "an enumerator's name or a number")?,
    };
    let min = Integer::new(true, 1u128 << (bits - 1));
    in_range(number, min, Integer::from(low_mask(bits)), bits)
}

/// A float's bytes: 2, 4 and 8 bytes from a number (or `"nan"`, `"inf"`,
/// `"-inf"`), wider ones from their bytes in hex.
fn float_bytes(value: &Value, size: u32) -> Result<Vec<u8>, Problem> {
    if size > 8 {
        let bytes = match value {
            Value::Bytes(bytes) => Some(bytes.clone()),
            Value::Str(hex) => parse_hex(hex),
            _ => None,
        };
        return match bytes {
            Some(bytes) if bytes.len() == size as usize => Ok(bytes),
            _ => Err(Problem::Expected {
                expected: "the float's bytes in hex, in memory order",
                found: describe(value),
            }),
        };
    }
    let expected = "a number";
    let x = match value {
        Value::Float(f) => f.to_f64(),
        Value::Int(i) => match (i.to_i128(), i.to_u128()) {
            (Some(v), _) => v as f64,
            (None, Some(v)) => v as f64,
            _ => f64::NAN,
        },
        Value::Str(text) => match text.trim() {
            "nan" | "NaN" => f64::NAN,
            "inf" | "+inf" | "infinity" => f64::INFINITY,
            "-inf" | "-infinity" => f64::NEG_INFINITY,
            other => other.parse::<f64>().map_err(|_| Problem::Expected {
                expected,
                found: describe(value),
            })?,
        },
        other => {
            return Err(Problem::Expected {
                expected,
                found: describe(other),
            });
        }
    };
    let out_of_range = || Problem::FloatOutOfRange {
        value: Float::Double(x).to_string(),
        bits: size * 8,
    };
    match size {
        2 => f64_to_half(x)
            .map(|h| h.to_le_bytes().to_vec())
            .ok_or_else(out_of_range),
        4 => {
            let single = x as f32;
            if x.is_finite() && single.is_infinite() {
                return Err(out_of_range());
            }
            Ok(single.to_le_bytes().to_vec())
        }
        _ => Ok(x.to_le_bytes().to_vec()),
    }
}

/// Hex digits (spaces allowed between bytes) as bytes.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// `x` rounded to the nearest IEEE 754 half-precision number (ties to
/// even); `None` when a finite `x` is too large for one.
pub(crate) fn f64_to_half(x: f64) -> Option<u16> {
    let sign: u16 = if x.is_sign_negative() { 0x8000 } else { 0 };
    let a = x.abs();
    if a.is_nan() {
        return Some(0x7e00);
    }
    if a.is_infinite() {
        return Some(sign | 0x7c00);
    }
    // 65520 is halfway between the largest half (65504) and 2^16: it and
    // everything above round to infinity.
    if a >= 65520.0 {
        return None;
    }
    let min_normal = 2f64.powi(-14);
    if a < min_normal {
        // Subnormal: a multiple of 2^-24; 1024 of them is the smallest normal.
        let units = (a * 2f64.powi(24)).round_ties_even() as u16;
        return Some(sign | units);
    }
    let exponent = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let mut mantissa = (a * 2f64.powi(10 - exponent)).round_ties_even() as u32;
    let mut exponent = exponent;
    if mantissa == 2048 {
        mantissa = 1024;
        exponent += 1;
    }
    let biased = u16::try_from(exponent + 15).ok().filter(|&e| e < 31)?;
    Some(sign | (biased << 10) | (mantissa - 1024) as u16)
}

#[cfg(test)]
mod tests {
    use super::super::format::half_to_f32;
    use super::*;

    fn kind(bits: u32, signed: bool) -> IntKind {
        IntKind {
            bits,
            signed,
            bool: false,
            char: false,
        }
    }

    fn int(v: i128) -> Value {
        Value::Int(v.into())
    }

    #[test]
    fn integers_are_range_checked_for_width_and_sign() {
        assert_eq!(int_bits(&int(255), kind(8, false)), Ok(255));
        assert_eq!(int_bits(&int(-1), kind(8, true)), Ok(0xff));
        assert_eq!(int_bits(&int(-128), kind(8, true)), Ok(0x80));
        assert_eq!(
            int_bits(&int(-129), kind(8, true)),
            Err(Problem::OutOfRange {
                value: "-129".into(),
                min: "-128".into(),
                max: "127".into()
            })
        );
        assert!(int_bits(&int(256), kind(8, false)).is_err());
        assert!(int_bits(&int(-1), kind(8, false)).is_err());
        assert_eq!(int_bits(&int(-4), kind(3, true)), Ok(0b100));
        assert!(int_bits(&int(4), kind(3, true)).is_err());
        assert_eq!(
            int_bits(&Value::Int(u128::MAX.into()), kind(128, false)),
            Ok(u128::MAX)
        );
        assert_eq!(int_bits(&int(i128::MIN), kind(128, true)), Ok(1u128 << 127));
        assert!(int_bits(&Value::Int(u128::MAX.into()), kind(128, true)).is_err());
        assert_eq!(
            int_bits(&Value::Str(" 0x1f ".into()), kind(8, false)),
            Ok(31)
        );
        assert_eq!(
            int_bits(&Value::Float(Float::Double(3.0)), kind(8, false)),
            Ok(3)
        );
        assert_eq!(
            int_bits(&Value::Float(Float::Double(3.5)), kind(8, false)),
            Err(Problem::NotInteger {
                value: "3.5".into()
            })
        );
        assert!(int_bits(&Value::Float(Float::Double(1e300)), kind(64, false)).is_err());
        assert!(
            int_bits(&Value::Bool(true), kind(8, false)).is_err(),
            "true is only for _Bool"
        );
        let boolean = IntKind {
            bool: true,
            ..kind(8, false)
        };
        assert_eq!(int_bits(&Value::Bool(true), boolean), Ok(1));
        let char = IntKind {
            char: true,
            ..kind(8, true)
        };
        assert_eq!(int_bits(&Value::Str("A".into()), char), Ok(65));
        assert_eq!(
            int_bits(&Value::Str("5".into()), char),
            Ok(53),
            "the character"
        );
        assert_eq!(
            int_bits(&Value::Str("53".into()), char),
            Ok(53),
            "the number"
        );
        assert!(int_bits(&Value::Str("AB".into()), char).is_err());
        assert!(int_bits(&Value::Null, kind(8, false)).is_err());
    }

    #[test]
    fn enums_take_names_or_numbers_of_either_sign() {
        let e = Enum {
            name: None,
            size: 4,
            signed: false,
            values: vec![("A".into(), 1), ("NEG".into(), 0xffff_ffff)],
        };
        assert_eq!(
            enum_bits(&e, &Value::Str("NEG".into()), 32),
            Ok(0xffff_ffff)
        );
        assert_eq!(enum_bits(&e, &Value::Enumerator("A".into()), 32), Ok(1));
        assert_eq!(enum_bits(&e, &int(-1), 32), Ok(0xffff_ffff));
        assert_eq!(enum_bits(&e, &int(0xffff_fffe), 32), Ok(0xffff_fffe));
        assert_eq!(enum_bits(&e, &Value::Str("7".into()), 32), Ok(7));
        assert!(enum_bits(&e, &int(1 << 32), 32).is_err());
        assert_eq!(
            enum_bits(&e, &Value::Str("B".into()), 32),
            Err(Problem::UnknownEnumerator {
                name: "B".into(),
                known: "A, NEG".into()
            })
        );
        assert_eq!(
            enum_bits(&e, &Value::Str("NEG".into()), 3),
            Ok(0b111),
            "a 3-bit enum bitfield"
        );
    }

    #[test]
    fn floats_of_every_width() {
        assert_eq!(
            float_bytes(&Value::Float(Float::Double(0.5)), 4),
            Ok(0.5f32.to_le_bytes().to_vec())
        );
        assert_eq!(
            float_bytes(&int(-3), 8),
            Ok((-3.0f64).to_le_bytes().to_vec())
        );
        assert_eq!(
            float_bytes(&Value::Str("-inf".into()), 8),
            Ok(f64::NEG_INFINITY.to_le_bytes().to_vec())
        );
        assert!(float_bytes(&Value::Float(Float::Double(1e39)), 4).is_err());
        assert_eq!(
            float_bytes(&Value::Float(Float::Double(1.0)), 2),
            Ok(vec![0x00, 0x3c])
        );
        assert_eq!(
            float_bytes(
                &Value::Str("00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f".into()),
                16
            )
            .unwrap()[15],
            15
        );
        assert!(float_bytes(&Value::Float(Float::Double(1.0)), 16).is_err());
        assert!(float_bytes(&Value::Bool(true), 4).is_err());
    }

    #[test]
    fn half_precision_rounds_to_nearest_even_and_reads_back() {
        for half in 0..=u16::MAX {
            let x = half_to_f32(half);
            if x.is_nan() {
                continue;
            }
            assert_eq!(f64_to_half(f64::from(x)), Some(half), "{half:#06x}");
        }
        assert_eq!(f64_to_half(65519.0), Some(0x7bff));
        assert_eq!(f64_to_half(65520.0), None);
        assert_eq!(
            f64_to_half(1.0 + 2f64.powi(-11)),
            Some(0x3c00),
            "a tie goes to even"
        );
        assert_eq!(
            f64_to_half(1.0 + 3.0 * 2f64.powi(-11)),
            Some(0x3c02),
            "a tie goes to even"
        );
        assert_eq!(
            f64_to_half(2f64.powi(-25)),
            Some(0),
            "half the smallest subnormal: a tie, to even"
        );
        assert_eq!(
            f64_to_half(2f64.powi(-14) - 2f64.powi(-26)),
            Some(0x0400),
            "rounds up to the smallest normal"
        );
        assert_eq!(f64_to_half(f64::NAN), Some(0x7e00));
    }

    #[test]
    fn hex_bytes() {
        assert_eq!(parse_hex("00ff 10"), Some(vec![0, 0xff, 0x10]));
        assert_eq!(parse_hex("0"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
