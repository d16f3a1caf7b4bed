//! Reading the raw `.BTF` section: header, string table and type records,
//! every offset, count and size checked against the section before use.
//!
//! The layout is the kernel's (`include/uapi/linux/btf.h`): a 24-byte header,
//! then a type section of variable-length records (12 bytes of `struct
//! btf_type`, then kind-specific data) and a string section of NUL-terminated
//! names. Memory is bounded by the section: a record's entries are only
//! allocated once the bytes that hold them are known to be there.

use super::BtfError;
use super::types::{Array, Composite, Enum, Int, Linkage, Member, Param, Type, TypeId, VarSecInfo};

/// `BTF_MAGIC`, little-endian.
const MAGIC: u16 = 0xeb9f;
/// Size of `struct btf_header`.
const HEADER_LEN: u32 = 24;
/// Size of `struct btf_type`.
const TYPE_HEADER_LEN: usize = 12;
/// The kernel's limit on type ids (`BTF_MAX_TYPE`).
pub(crate) const MAX_TYPES: usize = 0x000f_ffff;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// A little-endian reader over a byte slice that never reads past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn u32(&mut self) -> Option<u32> {
        let raw = self.bytes.get(self.pos..self.pos.checked_add(4)?)?;
        self.pos += 4;
        Some(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    if let Some(slice) = bytes.get(at..at + 4) {
        raw.copy_from_slice(slice);
    }
    u32::from_le_bytes(raw)
}

/// The string section: names looked up by offset.
struct Strings<'a> {
    bytes: &'a [u8],
}

impl Strings<'_> {
    /// The NUL-terminated string at `offset`; the empty string for offset 0.
    fn get(&self, id: u32, offset: u32) -> Result<&str, BtfError> {
        let bad = |reason| BtfError::BadName { id, offset, reason };
        let start = usize::try_from(offset).map_err(|_| bad("past the string section"))?;
        let rest = self
            .bytes
            .get(start..)
            .filter(|rest| !rest.is_empty())
            .ok_or_else(|| bad("past the string section"))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bad("not NUL-terminated"))?;
        std::str::from_utf8(&rest[..end]).map_err(|_| bad("not UTF-8"))
    }

    fn optional(&self, id: u32, offset: u32) -> Result<Option<String>, BtfError> {
        let name = self.get(id, offset)?;
        Ok((!name.is_empty()).then(|| name.to_owned()))
    }

    fn required(&self, id: u32, offset: u32, kind: &'static str) -> Result<String, BtfError> {
        self.optional(id, offset)?
            .ok_or(BtfError::MissingName { id, kind })
    }
}

/// Parses a whole `.BTF` section into its types (index = type id, 0 = void).
pub(crate) fn parse(data: &[u8]) -> Result<Vec<Type>, BtfError> {
    if data.len() < HEADER_LEN as usize {
        return Err(BtfError::Truncated {
            needed: u64::from(HEADER_LEN),
            available: data.len() as u64,
        });
    }
    let magic = u16::from_le_bytes([data[0], data[1]]);
    if magic != MAGIC {
        return Err(BtfError::BadMagic { magic });
    }
    if data[2] != 1 {
        return Err(BtfError::BadHeader {
            field: "version",
            value: data[2].into(),
            reason: "only version 1 exists",
        });
    }
    if data[3] != 0 {
        return Err(BtfError::BadHeader {
            field: "flags",
            value: data[3].into(),
            reason: "no flags are defined",
        });
    }
    let header_len = read_u32(data, 4);
    if header_len < HEADER_LEN || header_len as usize > data.len() {
        return Err(BtfError::BadHeader {
            field: "hdr_len",
            value: header_len.into(),
            reason: "shorter than the 24-byte header or longer than the section",
        });
    }
    let body = &data[header_len as usize..];
    let area = |what, offset: u32, len: u32| -> Result<&[u8], BtfError> {
        let out_of_range = BtfError::OutOfSection {
            what,
            offset,
            len,
            available: body.len() as u64,
        };
        let start = offset as usize;
        let end = start
            .checked_add(len as usize)
            .ok_or(out_of_range.clone())?;
        body.get(start..end).ok_or(out_of_range)
    };
    let (type_off, type_len) = (read_u32(data, 8), read_u32(data, 12));
    let (str_off, str_len) = (read_u32(data, 16), read_u32(data, 20));
    let type_area = area("type section", type_off, type_len)?;
    let string_area = area("string section", str_off, str_len)?;
    if type_off % 4 != 0 {
        return Err(BtfError::BadHeader {
            field: "type_off",
            value: type_off.into(),
            reason: "the type section must be 4-byte aligned",
        });
    }
    let (type_end, str_end) = (
        u64::from(type_off) + u64::from(type_len),
        u64::from(str_off) + u64::from(str_len),
    );
    if u64::from(type_off) < str_end && u64::from(str_off) < type_end {
        return Err(BtfError::BadHeader {
            field: "str_off",
            value: str_off.into(),
            reason: "the string section overlaps the type section",
        });
    }
    if string_area.first() != Some(&0) || string_area.last() != Some(&0) {
        return Err(BtfError::BadStrings {
            reason: "the string section must start and end with a NUL byte",
        });
    }
    let strings = Strings { bytes: string_area };
    let mut reader = Reader {
        bytes: type_area,
        pos: 0,
    };
    let mut types = vec![Type::Void];
    while reader.remaining() > 0 {
        if types.len() > MAX_TYPES {
            return Err(BtfError::TooManyTypes { max: MAX_TYPES });
        }
        let id = u32::try_from(types.len()).unwrap_or(u32::MAX);
        types.push(parse_type(id, &mut reader, &strings)?);
    }
    check_references(&types)?;
    Ok(types)
}

/// Checks that every type id a type refers to exists, and that a function's
/// prototype is a prototype.
fn check_references(types: &[Type]) -> Result<(), BtfError> {
    let count = types.len();
    for (id, ty) in types.iter().enumerate() {
        let id = u32::try_from(id).unwrap_or(u32::MAX);
        for referenced in ty.references() {
            if referenced.0 as usize >= count {
                return Err(BtfError::BadTypeRef {
                    id,
                    referenced: referenced.0,
                    count: count as u32,
                });
            }
        }
        if let Type::Func { proto, .. } = ty
            && !matches!(types[proto.0 as usize], Type::FuncProto { .. })
        {
            return Err(BtfError::BadKindRef {
                id,
                referenced: proto.0,
                expected: "FUNC_PROTO",
            });
        }
        if let Type::Datasec { vars, .. } = ty
            && let Some(var) = vars
                .iter()
                .find(|v| !matches!(types[v.var.0 as usize], Type::Var { .. }))
        {
            return Err(BtfError::BadKindRef {
                id,
                referenced: var.var.0,
                expected: "VAR",
            });
        }
    }
    Ok(())
}

/// Reads `count` fixed-size entries after checking that their bytes are there.
fn entries<T>(
    id: u32,
    reader: &mut Reader<'_>,
    count: usize,
    entry_len: usize,
    mut read: impl FnMut(&mut Reader<'_>) -> Result<T, BtfError>,
) -> Result<Vec<T>, BtfError> {
    let needed = count * entry_len;
    if reader.remaining() < needed {
        return Err(BtfError::TruncatedType {
            id,
            needed: needed as u64,
            available: reader.remaining() as u64,
        });
    }
    (0..count).map(|_| read(reader)).collect()
}

/// Reads one type record.
fn parse_type(id: u32, reader: &mut Reader<'_>, strings: &Strings<'_>) -> Result<Type, BtfError> {
    let truncated = |reader: &Reader<'_>, needed: usize| BtfError::TruncatedType {
        id,
        needed: needed as u64,
        available: reader.remaining() as u64,
    };
    if reader.remaining() < TYPE_HEADER_LEN {
        return Err(truncated(reader, TYPE_HEADER_LEN));
    }
    let (name_off, info, size_or_type) = (
        reader.u32().unwrap_or_default(),
        reader.u32().unwrap_or_default(),
        reader.u32().unwrap_or_default(),
    );
    // Every name offset must point at a string, whatever the kind.
    strings.get(id, name_off)?;
    let kind = (info >> 24) & 0x1f;
    let vlen = (info & 0xffff) as usize;
    let kind_flag = info >> 31 == 1;
    let target = TypeId(size_or_type);
    let bad = |reason: String| BtfError::BadType { id, reason };
    let u32_or_truncated = |reader: &mut Reader<'_>| {
        let available = reader.remaining() as u64;
        reader.u32().ok_or(BtfError::TruncatedType {
            id,
            needed: 4,
            available,
        })
    };
    let name = || strings.optional(id, name_off);
    let required = |kind| strings.required(id, name_off, kind);
    let ty = match kind {
        KIND_INT => {
            let encoding = u32_or_truncated(reader)?;
            let bits = encoding & 0xff;
            let bit_offset = (encoding >> 16) & 0xff;
            let flags = (encoding >> 24) & 0x0f;
            if encoding & 0xf000_ff00 != 0 {
                return Err(bad(format!(
                    "INT encoding {encoding:#x} has unused bits set"
                )));
            }
            if !matches!(size_or_type, 1 | 2 | 4 | 8 | 16) {
                return Err(bad(format!(
                    "INT size {size_or_type} is not 1, 2, 4, 8 or 16"
                )));
            }
            if bits == 0 || bits > 128 || bit_offset + bits > size_or_type * 8 {
                return Err(bad(format!(
                    "INT of {bits} bits at bit {bit_offset} does not fit its {size_or_type} bytes"
                )));
            }
            if flags.count_ones() > 1 || flags & 0x8 != 0 {
                return Err(bad(format!(
                    "INT encoding flags {flags:#x} are not one of signed, char, bool"
                )));
            }
            Type::Int(Int {
                name: required("INT")?,
                size: size_or_type,
                signed: flags & 1 != 0,
                char: flags & 2 != 0,
                bool: flags & 4 != 0,
                bits: bits as u8,
                bit_offset: bit_offset as u8,
            })
        }
        KIND_PTR => Type::Ptr { target },
        KIND_ARRAY => {
            let fields = entries(id, reader, 1, 12, |r| {
                Ok((
                    r.u32().unwrap_or_default(),
                    r.u32().unwrap_or_default(),
                    r.u32().unwrap_or_default(),
                ))
            })?;
            let (elem, index, len) = fields[0];
            Type::Array(Array {
                elem: TypeId(elem),
                index: TypeId(index),
                len,
            })
        }
        KIND_STRUCT | KIND_UNION => {
            let size = size_or_type;
            let size_bits = u64::from(size) * 8;
            let members = entries(id, reader, vlen, 12, |r| {
                let (member_name, member_type, offset) = (
                    r.u32().unwrap_or_default(),
                    r.u32().unwrap_or_default(),
                    r.u32().unwrap_or_default(),
                );
                let (bit_offset, bitfield_size) = if kind_flag {
                    (offset & 0x00ff_ffff, offset >> 24)
                } else {
                    (offset, 0)
                };
                if u64::from(bit_offset) + u64::from(bitfield_size) > size_bits {
                    return Err(BtfError::BadType {
                        id,
                        reason: format!(
                            "member at bit {bit_offset} (bitfield of {bitfield_size} bits) lies outside the {size}-byte type"
                        ),
                    });
                }
                Ok(Member {
                    name: strings.optional(id, member_name)?,
                    type_id: TypeId(member_type),
                    bit_offset,
                    bitfield_size: (bitfield_size != 0).then_some(bitfield_size as u8),
                })
            })?;
            let composite = Composite {
                name: name()?,
                size,
                members,
            };
            if kind == KIND_STRUCT {
                Type::Struct(composite)
            } else {
                Type::Union(composite)
            }
        }
        KIND_ENUM | KIND_ENUM64 => {
            if !matches!(size_or_type, 1 | 2 | 4 | 8) {
                return Err(bad(format!("enum size {size_or_type} is not 1, 2, 4 or 8")));
            }
            let wide = kind == KIND_ENUM64;
            let values = entries(id, reader, vlen, if wide { 12 } else { 8 }, |r| {
                let value_name = r.u32().unwrap_or_default();
                let low = r.u32().unwrap_or_default();
                let value = if wide {
                    let high = r.u32().unwrap_or_default();
                    ((u64::from(high) << 32) | u64::from(low)) as i64
                } else if kind_flag {
                    i64::from(low as i32)
                } else {
                    i64::from(low)
                };
                Ok((strings.get(id, value_name)?.to_owned(), value))
            })?;
            Type::Enum(Enum {
                name: name()?,
                size: size_or_type,
                signed: kind_flag,
                values,
            })
        }
        KIND_FWD => Type::Fwd {
            name: required("FWD")?,
            union: kind_flag,
        },
        KIND_TYPEDEF => Type::Typedef {
            name: required("TYPEDEF")?,
            target,
        },
        KIND_VOLATILE => Type::Volatile { target },
        KIND_CONST => Type::Const { target },
        KIND_RESTRICT => Type::Restrict { target },
        KIND_TYPE_TAG => Type::TypeTag {
            name: required("TYPE_TAG")?,
            target,
        },
        KIND_FUNC => Type::Func {
            name: required("FUNC")?,
            proto: target,
            linkage: Linkage::from_raw(vlen as u32),
        },
        KIND_FUNC_PROTO => {
            let params = entries(id, reader, vlen, 8, |r| {
                let (param_name, param_type) =
                    (r.u32().unwrap_or_default(), r.u32().unwrap_or_default());
                Ok(Param {
                    name: strings.optional(id, param_name)?,
                    type_id: TypeId(param_type),
                })
            })?;
            Type::FuncProto {
                ret: target,
                params,
            }
        }
        KIND_VAR => {
            let linkage = u32_or_truncated(reader)?;
            Type::Var {
                name: required("VAR")?,
                target,
                linkage: Linkage::from_raw(linkage),
            }
        }
        KIND_DATASEC => {
            let vars = entries(id, reader, vlen, 12, |r| {
                Ok(VarSecInfo {
                    var: TypeId(r.u32().unwrap_or_default()),
                    offset: r.u32().unwrap_or_default(),
                    size: r.u32().unwrap_or_default(),
                })
            })?;
            Type::Datasec {
                name: required("DATASEC")?,
                size: size_or_type,
                vars,
            }
        }
        KIND_FLOAT => {
            if !matches!(size_or_type, 2 | 4 | 8 | 12 | 16) {
                return Err(bad(format!(
                    "FLOAT size {size_or_type} is not 2, 4, 8, 12 or 16"
                )));
            }
            Type::Float {
                name: required("FLOAT")?,
                size: size_or_type,
            }
        }
        KIND_DECL_TAG => {
            let component = u32_or_truncated(reader)? as i32;
            Type::DeclTag {
                name: required("DECL_TAG")?,
                target,
                component,
            }
        }
        other => return Err(BtfError::UnknownKind { id, kind: other }),
    };
    Ok(ty)
}
