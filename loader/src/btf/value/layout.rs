//! What formatting and encoding share: the walk's place (for error paths),
//! bits read and written little-endian, where a struct's members lie (the
//! members of anonymous structs and unions flattened into their parent, as
//! C lets code name them), and which arrays are strings.

use std::collections::HashMap;

use super::MAX_NESTING;
use super::error::{PathStep, Problem, ValueError, render_path};
use crate::btf::{Btf, BtfError, Composite, Type, TypeId};

/// The mask of the low `bits` bits (all of them for 128).
pub(crate) fn low_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// `bits` bits starting at bit `start` of `bytes` (bit `i` is bit `i % 8`
/// of byte `i / 8`, as little-endian bitfields lie); `None` when they are
/// not all inside `bytes` or more than 128.
pub(crate) fn read_bits(bytes: &[u8], start: u64, bits: u32) -> Option<u128> {
    let end = start.checked_add(u64::from(bits))?;
    if bits > 128 || end > (bytes.len() as u64).checked_mul(8)? {
        return None;
    }
    let (mut value, mut got, mut at) = (0u128, 0u32, start);
    while at < end {
        let shift = (at % 8) as u32;
        let take = (8 - shift).min((end - at) as u32);
        let byte = u128::from(bytes[(at / 8) as usize] >> shift) & low_mask(take);
        value |= byte << got;
        got += take;
        at += u64::from(take);
    }
    Some(value)
}

/// Stores the low `bits` bits of `value` at bit `start` of `bytes`, leaving
/// every other bit as it was; `None` when they are not all inside `bytes`.
pub(crate) fn write_bits(bytes: &mut [u8], start: u64, bits: u32, value: u128) -> Option<()> {
    let end = start.checked_add(u64::from(bits))?;
    if bits > 128 || end > (bytes.len() as u64).checked_mul(8)? {
        return None;
    }
    let (mut put, mut at) = (0u32, start);
    while at < end {
        let shift = (at % 8) as u32;
        let take = (8 - shift).min((end - at) as u32);
        let mask = (low_mask(take) as u8) << shift;
        let piece = ((value >> put) as u8) << shift;
        let byte = &mut bytes[(at / 8) as usize];
        *byte = (*byte & !mask) | (piece & mask);
        put += take;
        at += u64::from(take);
    }
    Some(())
}

/// `raw`'s low `bits` bits read as a two's-complement number.
pub(crate) fn sign_extend(raw: u128, bits: u32) -> i128 {
    if bits == 0 || bits >= 128 {
        return raw as i128;
    }
    let shift = 128 - bits;
    ((raw << shift) as i128) >> shift
}

/// Where a member lies in what contains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    /// Its type.
    pub type_id: TypeId,
    /// Its first bit, from the start of the outermost struct walked.
    pub bit_offset: u64,
    /// For a bitfield, its width.
    pub bitfield: Option<u32>,
}

/// A walk through a value: the BTF, and the path so far for messages.
pub(crate) struct Walk<'a> {
    pub btf: &'a Btf,
    pub root: String,
    pub steps: Vec<PathStep>,
}

impl<'a> Walk<'a> {
    pub fn new(btf: &'a Btf, root: &str) -> Walk<'a> {
        Walk {
            btf,
            root: root.to_owned(),
            steps: Vec::new(),
        }
    }

    /// An error about type `id` at the current place.
    pub fn error(&self, id: TypeId, problem: Problem) -> ValueError {
        ValueError {
            path: render_path(&self.root, &self.steps),
            type_name: self.btf.type_name(id),
            problem,
        }
    }

    /// An error from the BTF walk itself.
    pub fn btf_error(&self, id: TypeId, error: BtfError) -> ValueError {
        let problem = match error {
            BtfError::NotSized { kind, .. } => Problem::NoValue { kind },
            other => Problem::Btf(other),
        };
        self.error(id, problem)
    }

    /// `id` with typedefs and qualifiers looked through.
    pub fn resolved(&self, id: TypeId) -> Result<(TypeId, &'a Type), ValueError> {
        self.btf.resolved(id).map_err(|e| self.btf_error(id, e))
    }

    /// The size of a value of type `id`.
    pub fn size_of(&self, id: TypeId) -> Result<u64, ValueError> {
        self.btf
            .size_of(id)
            .map(u64::from)
            .map_err(|e| self.btf_error(id, e))
    }

    /// Fails past [`MAX_NESTING`] levels.
    pub fn check_depth(&self, id: TypeId, depth: usize) -> Result<(), ValueError> {
        if depth > MAX_NESTING {
            Err(self.error(id, Problem::TooDeep { max: MAX_NESTING }))
        } else {
            Ok(())
        }
    }

    /// The `bytes` of a member or element at `place` (not a bitfield) inside
    /// `outer`, checked to start on a byte and to lie inside.
    pub fn byte_range(
        &self,
        place: &Place,
        outer_len: usize,
    ) -> Result<std::ops::Range<usize>, ValueError> {
        if !place.bit_offset.is_multiple_of(8) {
            return Err(self.error(
                place.type_id,
                Problem::Misaligned {
                    bit_offset: place.bit_offset,
                },
            ));
        }
        let size = self.size_of(place.type_id)?;
        let start = place.bit_offset / 8;
        match start.checked_add(size) {
            Some(end) if end <= outer_len as u64 => Ok(start as usize..end as usize),
            _ => Err(self.error(
                place.type_id,
                Problem::Outside {
                    bit_offset: place.bit_offset,
                    bits: size.saturating_mul(8),
                    outer_bytes: outer_len as u64,
                },
            )),
        }
    }

    /// For an integer member that does not start on a byte (the old BTF
    /// encoding of bitfields, with the width in the INT), its bitfield
    /// place; `None` for every other member.
    pub fn int_bits(&self, place: &Place) -> Result<Option<(u64, u32)>, ValueError> {
        if let Some(bits) = place.bitfield {
            return Ok(Some((place.bit_offset, bits)));
        }
        let (_, ty) = self.resolved(place.type_id)?;
        match ty {
            Type::Int(int) if !place.bit_offset.is_multiple_of(8) => Ok(Some((
                place.bit_offset + u64::from(int.bit_offset),
                u32::from(int.bits),
            ))),
            _ => Ok(None),
        }
    }

    /// Checks a bitfield's type: an integer or enum at least `bits` wide.
    /// Gives its signedness.
    pub fn bitfield_signed(&self, id: TypeId, bits: u32) -> Result<bool, ValueError> {
        let (_, ty) = self.resolved(id)?;
        let (signed, type_bits) = match ty {
            Type::Int(int) => (int.signed, int.size * 8),
            Type::Enum(e) => (e.signed, e.size * 8),
            other => {
                return Err(self.error(
                    id,
                    Problem::BadBitfield {
                        bits,
                        kind: other.kind_name(),
                        type_bits: 0,
                    },
                ));
            }
        };
        if bits == 0 || bits > type_bits {
            return Err(self.error(
                id,
                Problem::BadBitfield {
                    bits,
                    kind: ty.kind_name(),
                    type_bits,
                },
            ));
        }
        Ok(signed)
    }

    /// The members of `composite` by name, with those of anonymous struct
    /// and union members in their place, each with its bit offset from the
    /// start of `composite` (duplicates: the first wins).
    pub fn member_index(
        &self,
        composite: &'a Composite,
        depth: usize,
    ) -> Result<MemberIndex<'a>, ValueError> {
        let mut index = MemberIndex::default();
        self.collect_members(composite, 0, depth, &mut index)?;
        Ok(index)
    }

    fn collect_members(
        &self,
        composite: &'a Composite,
        base: u64,
        depth: usize,
        index: &mut MemberIndex<'a>,
    ) -> Result<(), ValueError> {
        for member in &composite.members {
            let place = Place {
                type_id: member.type_id,
                bit_offset: base + u64::from(member.bit_offset),
                bitfield: member.bitfield_size.map(u32::from),
            };
            match &member.name {
                Some(name) => {
                    index.order.push(name);
                    index.by_name.entry(name.as_str()).or_insert(place);
                }
                None => {
                    if let Some(inner) = self.anonymous_composite(&place)? {
                        self.check_depth(member.type_id, depth + 1)?;
                        self.collect_members(inner, place.bit_offset, depth + 1, index)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// For an anonymous member that is a struct or union (not a bitfield),
    /// that struct or union; `None` for other anonymous members (padding).
    pub fn anonymous_composite(&self, place: &Place) -> Result<Option<&'a Composite>, ValueError> {
        if place.bitfield.is_some() {
            return Ok(None);
        }
        Ok(match self.resolved(place.type_id)?.1 {
            Type::Struct(c) | Type::Union(c) => Some(c),
            _ => None,
        })
    }
}

/// A struct's members by name, anonymous structs and unions flattened.
#[derive(Debug, Default)]
pub(crate) struct MemberIndex<'a> {
    pub by_name: HashMap<&'a str, Place>,
    /// The names in declaration order (for messages).
    pub order: Vec<&'a str>,
}

/// Whether an array of `elem` is a C string for bpftool: its elements are
/// whole-byte `char`s (the kind flag, or the name), under qualifiers but
/// not typedefs.
pub(crate) fn is_char(btf: &Btf, elem: TypeId) -> bool {
    let mut id = elem;
    for _ in 0..crate::btf::MAX_RESOLVE_DEPTH {
        match btf.get(id) {
            Ok(
                Type::Const { target }
                | Type::Volatile { target }
                | Type::Restrict { target }
                | Type::TypeTag { target, .. },
            ) => id = *target,
            Ok(Type::Int(int)) => {
                return int.size == 1
                    && int.bits == 8
                    && int.bit_offset == 0
                    && (int.char || int.name == "char");
            }
            _ => return false,
        }
    }
    false
}

/// Whether `elem` is a one-byte integer (through typedefs): an array of
/// them takes a string when encoding.
pub(crate) fn is_byte(btf: &Btf, elem: TypeId) -> bool {
    matches!(btf.resolved(elem), Ok((_, Type::Int(int))) if int.size == 1 && int.bits == 8 && int.bit_offset == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_cross_bytes_little_endian() {
        let bytes = [0b1010_0000u8, 0b0000_0111, 0xff];
        // bits 5..11: 101 from byte 0 (bits 5..8), then 111 from byte 1.
        assert_eq!(read_bits(&bytes, 5, 6), Some(0b111_101));
        assert_eq!(read_bits(&bytes, 0, 24), Some(0xff07a0));
        assert_eq!(read_bits(&bytes, 20, 4), Some(0xf));
        assert_eq!(read_bits(&bytes, 21, 4), None, "past the end");
        assert_eq!(read_bits(&bytes, u64::MAX, 4), None, "no overflow");
        let wide = [0xffu8; 17];
        assert_eq!(read_bits(&wide, 3, 128), Some(u128::MAX));
        assert_eq!(read_bits(&wide, 3, 129), None);
    }

    #[test]
    fn writing_bits_keeps_the_others() {
        let mut bytes = [0xffu8; 3];
        write_bits(&mut bytes, 5, 6, 0).unwrap();
        assert_eq!(bytes, [0b0001_1111, 0b1111_1000, 0xff]);
        write_bits(&mut bytes, 5, 6, 0b101_011).unwrap();
        assert_eq!(read_bits(&bytes, 5, 6), Some(0b101_011));
        assert_eq!(bytes[2], 0xff);
        assert_eq!(write_bits(&mut bytes, 20, 5, 1), None);
        let mut wide = [0u8; 17];
        write_bits(&mut wide, 7, 128, u128::MAX - 1).unwrap();
        assert_eq!(read_bits(&wide, 7, 128), Some(u128::MAX - 1));
        assert_eq!(wide[0], 0, "bit 7 is the lowest written, and it is 0");
        assert_eq!(wide[16], 0x7f);
    }

    #[test]
    fn sign_extension() {
        assert_eq!(sign_extend(0b1111101, 7), -3);
        assert_eq!(sign_extend(0b0111101, 7), 61);
        assert_eq!(sign_extend(u128::MAX, 128), -1);
        assert_eq!(sign_extend(1, 1), -1);
        assert_eq!(low_mask(0), 0);
        assert_eq!(low_mask(128), u128::MAX);
    }
}
