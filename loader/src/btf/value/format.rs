//! Bytes to [`Value`]: what a BTF type says some bytes hold, the way
//! bpftool's `map dump` shows it (see the module documentation of
//! [`value`](super) for the rules and where they differ from bpftool).
//!
//! Work and output are bounded: the output budget of [`Limits`] cuts long
//! arrays and structs short with a [`Value::Elided`] remainder, strings are
//! cut at [`Limits::max_string`], nesting stops at
//! [`MAX_NESTING`](super::MAX_NESTING), and the bytes examined to tell a
//! string from a `char` array are capped at a few times the value's size,
//! so overlapping union members cannot make it quadratic.

use super::Limits;
use super::error::{PathStep, Problem, ValueError};
use super::layout::{Place, Walk, is_char, read_bits, sign_extend};
use super::tree::{ELIDED_KEY, Float, Integer, Value};
use crate::btf::{Btf, Composite, Enum, Int, Type, TypeId};

/// The value `bytes` hold as type `id`; `bytes` must be exactly the type's
/// size. Errors name the place (relative to the value: `limits[2]`).
///
/// ```
/// use tinybpf_loader::btf::value::{Limits, format};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/btf_globals.o");
/// let object = tinybpf_loader::Object::open(path).unwrap();
/// let btf = object.btf.as_ref().unwrap();
/// let config = object.variable("config").unwrap().type_id.unwrap();
/// let bytes = [3, 0, 0, 0, 0xfe, 0xff, 0x81, 0b1101];
/// let value = format(btf, config, &bytes, &Limits::FULL).unwrap();
/// assert_eq!(value.to_string(), "{scale: 3, offset: -2, flags: 129, mode: 5, verbose: 1}");
/// assert!(format(btf, config, &bytes[..4], &Limits::FULL).is_err());
/// ```
pub fn format(btf: &Btf, id: TypeId, bytes: &[u8], limits: &Limits) -> Result<Value, ValueError> {
    Formatter::new(btf, limits, bytes.len()).format("", id, bytes)
}

/// Formats one value after another within one output budget (the
/// variables of a data section).
pub(crate) struct Formatter<'a> {
    walk: Walk<'a>,
    /// Output characters left before lists and structs are cut short.
    budget: usize,
    max_string: usize,
    /// Bytes left to examine when telling strings from other `char` arrays.
    scan_left: usize,
}

impl<'a> Formatter<'a> {
    /// A formatter for values within `total_bytes` bytes.
    pub fn new(btf: &'a Btf, limits: &Limits, total_bytes: usize) -> Formatter<'a> {
        Formatter {
            walk: Walk::new(btf, ""),
            budget: limits.max_output.max(1),
            max_string: limits.max_string,
            scan_left: total_bytes.saturating_mul(8).saturating_add(1 << 20),
        }
    }

    /// The value `bytes` hold as type `id` (exactly its size); errors'
    /// paths start at `root`.
    pub fn format(&mut self, root: &str, id: TypeId, bytes: &[u8]) -> Result<Value, ValueError> {
        self.walk.root = root.to_owned();
        self.walk.steps.clear();
        let size = self.walk.size_of(id)?;
        if size != bytes.len() as u64 {
            return Err(self.walk.error(
                id,
                Problem::WrongSize {
                    expected: size,
                    actual: bytes.len() as u64,
                },
            ));
        }
        self.value(id, bytes, 0)
    }

    /// Whether the output budget is spent.
    pub fn exhausted(&self) -> bool {
        self.budget == 0
    }

    fn charge(&mut self, cost: usize) {
        self.budget = self.budget.saturating_sub(cost.max(1));
    }

    /// The value of `bytes` (exactly type `id`'s size, checked by the caller).
    fn value(&mut self, id: TypeId, bytes: &[u8], depth: usize) -> Result<Value, ValueError> {
        self.walk.check_depth(id, depth)?;
        let (resolved, ty) = self.walk.resolved(id)?;
        let value = match ty {
            Type::Int(int) => int_value(int, bytes),
            Type::Enum(e) => {
                let raw = read_bits(bytes, 0, e.size * 8).unwrap_or_default();
                enum_value(e, raw, e.size * 8)
            }
            Type::Ptr { .. } => {
                Value::Int(Integer::from(read_bits(bytes, 0, 64).unwrap_or_default()))
            }
            Type::Float { size, .. } => float(bytes, *size),
            Type::Array(array) => {
                return self.array(resolved, array.elem, array.len, bytes, depth);
            }
            Type::Struct(c) | Type::Union(c) => {
                self.charge(2);
                let mut members = Vec::new();
                self.members(c, bytes, 0, depth, &mut members)?;
                return Ok(Value::Object(members));
            }
            Type::Var { target, .. } => return self.value(*target, bytes, depth + 1),
            Type::Datasec { vars, .. } => return self.datasec(vars, bytes, depth),
            other => {
                return Err(self.walk.error(
                    resolved,
                    Problem::NoValue {
                        kind: other.kind_name(),
                    },
                ));
            }
        };
        self.charge(approximate_len(&value));
        Ok(value)
    }

    fn array(
        &mut self,
        id: TypeId,
        elem: TypeId,
        len: u32,
        bytes: &[u8],
        depth: usize,
    ) -> Result<Value, ValueError> {
        let elem_size = self.walk.size_of(elem)? as usize;
        if len > 0
            && elem_size == 1
            && is_char(self.walk.btf, elem)
            && let Some(text) = self.string(bytes)
        {
            self.charge(approximate_len(&text));
            return Ok(text);
        }
        self.walk.check_depth(id, depth + 1)?;
        self.charge(2);
        let mut items = Vec::new();
        for index in 0..len {
            if self.budget == 0 {
                items.push(Value::Elided {
                    more: u64::from(len - index),
                });
                break;
            }
            self.walk.steps.push(PathStep::Index(u64::from(index)));
            let place = Place {
                type_id: elem,
                bit_offset: u64::from(index) * elem_size as u64 * 8,
                bitfield: None,
            };
            let value = self
                .walk
                .byte_range(&place, bytes.len())
                .and_then(|range| self.value(elem, &bytes[range], depth + 1));
            self.walk.steps.pop();
            items.push(value?);
            self.charge(2);
        }
        Ok(Value::List(items))
    }

    /// A `char` array as a string when bpftool would show it as one (the
    /// bytes before the first NUL printable, a NUL present) and every byte
    /// after that NUL is zero (so the string says everything the bytes
    /// do); cut to the output limits. `None` otherwise.
    fn string(&mut self, bytes: &[u8]) -> Option<Value> {
        let shown_max = self.max_string.min(self.budget.max(16));
        let look = bytes.len().min(shown_max + 1);
        let end = bytes[..look].iter().position(|&b| b == 0);
        // With a NUL, every byte is examined (the tail must be zero).
        let cost = if end.is_some() { bytes.len() } else { look };
        if cost > self.scan_left {
            return None;
        }
        self.scan_left -= cost;
        let printable = |b: &u8| (0x20..0x7f).contains(b);
        match end {
            Some(nul) => {
                let text = &bytes[..nul];
                if !text.iter().all(printable) || bytes[nul..].iter().any(|&b| b != 0) {
                    return None;
                }
                Some(Value::Str(ascii(text)))
            }
            None if look < bytes.len() && bytes[..shown_max].iter().all(printable) => {
                // Longer than can be shown: the rest is not examined.
                Some(Value::Truncated {
                    text: ascii(&bytes[..shown_max]),
                    more_bytes: (bytes.len() - shown_max) as u64,
                })
            }
            None => None,
        }
    }

    /// The members of `composite` (whose bytes start `base` bits into
    /// `bytes`), appended to `out`, anonymous structs and unions flattened.
    fn members(
        &mut self,
        composite: &'a Composite,
        bytes: &[u8],
        base: u64,
        depth: usize,
        out: &mut Vec<(String, Value)>,
    ) -> Result<(), ValueError> {
        for (i, member) in composite.members.iter().enumerate() {
            if self.budget == 0 {
                let more = (composite.members.len() - i) as u64;
                out.push((ELIDED_KEY.to_owned(), Value::Elided { more }));
                return Ok(());
            }
            let place = Place {
                type_id: member.type_id,
                bit_offset: base + u64::from(member.bit_offset),
                bitfield: member.bitfield_size.map(u32::from),
            };
            let Some(name) = &member.name else {
                if let Some(inner) = self.walk.anonymous_composite(&place)? {
                    self.walk.check_depth(member.type_id, depth + 1)?;
                    self.members(inner, bytes, place.bit_offset, depth + 1, out)?;
                }
                continue;
            };
            self.walk.steps.push(PathStep::Member(name.clone()));
            let value = self.member(&place, bytes, depth);
            self.walk.steps.pop();
            let value = value?;
            self.charge(name.len() + 4);
            out.push((name.clone(), value));
        }
        Ok(())
    }

    fn member(&mut self, place: &Place, bytes: &[u8], depth: usize) -> Result<Value, ValueError> {
        if let Some((start, bits)) = self.walk.int_bits(place)? {
            let signed = self.walk.bitfield_signed(place.type_id, bits)?;
            let outside = || {
                self.walk.error(
                    place.type_id,
                    Problem::Outside {
                        bit_offset: start,
                        bits: u64::from(bits),
                        outer_bytes: bytes.len() as u64,
                    },
                )
            };
            let raw = read_bits(bytes, start, bits).ok_or_else(outside)?;
            let value = match self.walk.resolved(place.type_id)?.1 {
                Type::Enum(e) => enum_value(e, raw, bits),
                Type::Int(int) if int.bool && raw <= 1 => Value::Bool(raw == 1),
                _ => integer(raw, bits, signed),
            };
            self.charge(approximate_len(&value));
            return Ok(value);
        }
        let range = self.walk.byte_range(place, bytes.len())?;
        self.value(place.type_id, &bytes[range], depth + 1)
    }

    /// A data section whose BTF gives its size and its variables' offsets
    /// (clang leaves both 0: see [`format_section`](super::format_section)).
    fn datasec(
        &mut self,
        vars: &[crate::btf::VarSecInfo],
        bytes: &[u8],
        depth: usize,
    ) -> Result<Value, ValueError> {
        self.charge(2);
        let mut members = Vec::new();
        for (i, info) in vars.iter().enumerate() {
            if self.budget == 0 {
                let more = (vars.len() - i) as u64;
                members.push((ELIDED_KEY.to_owned(), Value::Elided { more }));
                break;
            }
            let Ok(Type::Var { name, target, .. }) = self.walk.btf.get(info.var) else {
                continue;
            };
            self.walk.steps.push(PathStep::Member(name.clone()));
            let place = Place {
                type_id: *target,
                bit_offset: u64::from(info.offset) * 8,
                bitfield: None,
            };
            let value = self
                .walk
                .byte_range(&place, bytes.len())
                .and_then(|range| self.value(*target, &bytes[range], depth + 1));
            self.walk.steps.pop();
            self.charge(name.len() + 4);
            members.push((name.clone(), value?));
        }
        Ok(Value::Object(members))
    }
}

/// An integer's value from its `int.size` bytes (the parser checked that
/// its bits lie inside them).
fn int_value(int: &Int, bytes: &[u8]) -> Value {
    let bits = u32::from(int.bits);
    let raw = read_bits(bytes, u64::from(int.bit_offset), bits).unwrap_or_default();
    if int.bool && raw <= 1 {
        return Value::Bool(raw == 1);
    }
    if int.char && int.size == 1 && (0x20..0x7f).contains(&raw) {
        return Value::Str(char::from(raw as u8).to_string());
    }
    integer(raw, bits, int.signed)
}

/// Bytes known to be printable ASCII, as a string.
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The low `bits` bits of `raw` as an integer of that width.
fn integer(raw: u128, bits: u32, signed: bool) -> Value {
    Value::Int(if signed {
        Integer::from(sign_extend(raw, bits))
    } else {
        Integer::from(raw)
    })
}

/// An enum's value: its enumerator's name when one has this value (compared
/// in the low `bits` bits, so a negative enumerator matches whether the
/// BTF stored it sign- or zero-extended), else the number.
fn enum_value(e: &Enum, raw: u128, bits: u32) -> Value {
    let mask = super::layout::low_mask(bits);
    let found = e
        .values
        .iter()
        .find(|(_, v)| (*v as u64 as u128) & mask == raw & mask);
    match found {
        Some((name, _)) => Value::Enumerator(name.clone()),
        None => integer(raw, bits, e.signed),
    }
}

/// A float of `size` bytes: 2, 4 and 8 as numbers, wider ones as bytes.
fn float(bytes: &[u8], size: u32) -> Value {
    let raw = read_bits(bytes, 0, size.min(16) * 8).unwrap_or_default();
    match size {
        2 => Value::Float(Float::Single(half_to_f32(raw as u16))),
        4 => Value::Float(Float::Single(f32::from_bits(raw as u32))),
        8 => Value::Float(Float::Double(f64::from_bits(raw as u64))),
        _ => Value::Bytes(bytes.to_vec()),
    }
}

/// An IEEE 754 half-precision number, exactly, as an `f32`.
pub(crate) fn half_to_f32(half: u16) -> f32 {
    let sign = if half & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exponent = i32::from((half >> 10) & 0x1f);
    let fraction = f32::from(half & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f32.powi(-24),
        0x1f if fraction == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f32.powi(exponent - 15),
    }
}

/// About how many characters a scalar takes when written.
fn approximate_len(value: &Value) -> usize {
    match value {
        Value::Int(i) => 2 + (128 - i.magnitude().leading_zeros() as usize) * 3 / 10,
        Value::Str(s) | Value::Enumerator(s) => s.len() + 4,
        Value::Truncated { text, .. } => text.len() + 24,
        Value::Bytes(b) => b.len() * 2 + 4,
        Value::Float(_) => 12,
        _ => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x7bff), 65504.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(half_to_f32(0x3555), 0.333_251_95);
        assert_eq!(half_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(half_to_f32(0x7e00).is_nan());
        assert_eq!(half_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn enum_values_match_in_the_type_width() {
        let e = Enum {
            name: None,
            size: 4,
            signed: false,
            values: vec![("LOW".to_owned(), 0xffff_ffff), ("NEG".to_owned(), -2)],
        };
        assert_eq!(
            enum_value(&e, 0xffff_ffff, 32),
            Value::Enumerator("LOW".to_owned())
        );
        assert_eq!(
            enum_value(&e, 0xffff_fffe, 32),
            Value::Enumerator("NEG".to_owned())
        );
        assert_eq!(enum_value(&e, 7, 32), Value::Int(7u8.into()));
        assert_eq!(
            enum_value(&e, 0b111, 3),
            Value::Enumerator("LOW".to_owned())
        );
    }
}
