//! BTF, the BPF Type Format: the types of an object's maps and global
//! variables, as clang's `-g` writes them into the `.BTF` section.
//!
//! [`Btf::parse`] reads the section into a [`Type`] per [`TypeId`], with every
//! offset, count and referenced id checked. The helpers here walk the types
//! the way libbpf does, each walk bounded: [`Btf::skip_modifiers`] looks
//! through typedefs and qualifiers, [`Btf::size_of`] computes a type's size
//! (arrays multiplied out), and [`Btf::type_name`] spells a type as C would.
//! A chain longer than [`MAX_RESOLVE_DEPTH`] or one that loops back on itself
//! is an error, never a hang.
//!
//! ```
//! use tinybpf_loader::btf::{Btf, Type};
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/btf_globals.o");
//! let object = tinybpf_loader::Object::open(path).unwrap();
//! let btf = object.btf.as_ref().unwrap();
//! let config = object.variables.iter().find(|v| v.name == "config").unwrap();
//! let type_id = config.type_id.unwrap();
//! assert_eq!(btf.type_name(type_id), "const volatile struct config");
//! let Type::Struct(config_struct) = btf.resolved(type_id).unwrap().1 else { panic!() };
//! assert_eq!(config_struct.member("scale").unwrap().byte_offset(), Some(0));
//! assert_eq!(btf.size_of(type_id).unwrap(), config.size);
//! ```

mod parse;
mod types;
pub mod value;

use thiserror::Error;

pub use types::{Array, Composite, Enum, Int, Linkage, Member, Param, Type, TypeId, VarSecInfo};

/// The longest chain of typedefs, qualifiers, pointers or arrays a walk
/// follows (libbpf's limit).
pub const MAX_RESOLVE_DEPTH: usize = 32;

/// Why a `.BTF` section cannot be read, or a type in it cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BtfError {
    /// The section is shorter than the BTF header.
    #[error("truncated: the header needs {needed} bytes but the section has {available}")]
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// The magic number is not `0xeb9f`.
    #[error("bad magic {magic:#06x} (0xeb9f expected; big-endian BTF is not supported)")]
    BadMagic {
        /// The magic found.
        magic: u16,
    },
    /// A header field has a value the format does not allow.
    #[error("header field {field} = {value}: {reason}")]
    BadHeader {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The type or string section lies outside the BTF section.
    #[error(
        "the {what} at offset {offset} with length {len} lies outside the {available} bytes after the header"
    )]
    OutOfSection {
        /// `"type section"` or `"string section"`.
        what: &'static str,
        /// Its offset after the header.
        offset: u32,
        /// Its length.
        len: u32,
        /// Bytes after the header.
        available: u64,
    },
    /// The string section is malformed.
    #[error("string section: {reason}")]
    BadStrings {
        /// What is wrong.
        reason: &'static str,
    },
    /// A name offset does not give a string.
    #[error("type #{id}: name offset {offset} is {reason}")]
    BadName {
        /// The type.
        id: u32,
        /// The name offset.
        offset: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// A kind that must be named has no name.
    #[error("type #{id}: a {kind} must have a name")]
    MissingName {
        /// The type.
        id: u32,
        /// Its kind.
        kind: &'static str,
    },
    /// A type record runs past the end of the type section.
    #[error(
        "type #{id}: its record needs {needed} more bytes but the type section has {available}"
    )]
    TruncatedType {
        /// The type.
        id: u32,
        /// Bytes needed.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// A kind number this reader does not know.
    #[error("type #{id}: unknown kind {kind}")]
    UnknownKind {
        /// The type.
        id: u32,
        /// The kind number.
        kind: u32,
    },
    /// A type's fields are inconsistent.
    #[error("type #{id}: {reason}")]
    BadType {
        /// The type.
        id: u32,
        /// What is wrong.
        reason: String,
    },
    /// A type refers to a type id that does not exist.
    #[error("type #{id} refers to type #{referenced}, but there are only {count} types")]
    BadTypeRef {
        /// The type.
        id: u32,
        /// The id it refers to.
        referenced: u32,
        /// The number of types (ids `0..count`).
        count: u32,
    },
    /// A type refers to a type of the wrong kind.
    #[error("type #{id} refers to type #{referenced}, which is not a {expected}")]
    BadKindRef {
        /// The type.
        id: u32,
        /// The id it refers to.
        referenced: u32,
        /// The kind it must be.
        expected: &'static str,
    },
    /// More types than the kernel allows.
    #[error("more than {max} types")]
    TooManyTypes {
        /// The limit.
        max: usize,
    },
    /// A chain of typedefs, qualifiers, pointers or arrays comes back to a type it passed.
    #[error("type #{id}: its chain of typedefs, qualifiers or arrays loops back on itself")]
    Loop {
        /// The type the walk started from.
        id: u32,
    },
    /// A chain of typedefs, qualifiers, pointers or arrays is longer than [`MAX_RESOLVE_DEPTH`].
    #[error(
        "type #{id}: its chain of typedefs, qualifiers or arrays is longer than {MAX_RESOLVE_DEPTH}"
    )]
    TooDeep {
        /// The type the walk started from.
        id: u32,
    },
    /// A type's size does not fit 32 bits.
    #[error("type #{id}: its size does not fit 32 bits")]
    SizeOverflow {
        /// The type.
        id: u32,
    },
    /// A type that has no size (void, a function, a forward declaration).
    #[error("type #{id} ({kind}) has no size")]
    NotSized {
        /// The type.
        id: u32,
        /// Its kind.
        kind: &'static str,
    },
    /// A type id past the end of the types.
    #[error("there is no type #{id}")]
    NoSuchType {
        /// The id.
        id: u32,
    },
}

/// The types of a `.BTF` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Btf {
    /// Index = type id; index 0 is [`Type::Void`].
    types: Vec<Type>,
}

impl Btf {
    /// Parses a `.BTF` section.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        parse::parse(data).map(|types| Btf { types })
    }

    /// The number of type ids, `void` included.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether there is no type but `void`.
    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

    /// The type with id `id`.
    pub fn get(&self, id: TypeId) -> Result<&Type, BtfError> {
        self.types
            .get(id.0 as usize)
            .ok_or(BtfError::NoSuchType { id: id.0 })
    }

    /// Every type with its id, `void` first.
    pub fn types(&self) -> impl Iterator<Item = (TypeId, &Type)> {
        (0u32..).zip(&self.types).map(|(id, ty)| (TypeId(id), ty))
    }

    /// Follows `next` from `id` for at most [`MAX_RESOLVE_DEPTH`] steps,
    /// until it gives `None`; a loop or a longer chain is an error.
    fn walk(
        &self,
        id: TypeId,
        mut next: impl FnMut(&Type) -> Option<TypeId>,
    ) -> Result<TypeId, BtfError> {
        let mut seen = [TypeId::VOID; MAX_RESOLVE_DEPTH];
        let mut current = id;
        for step in 0..=MAX_RESOLVE_DEPTH {
            let Some(following) = next(self.get(current)?) else {
                return Ok(current);
            };
            if seen[..step].contains(&current) {
                return Err(BtfError::Loop { id: id.0 });
            }
            if step == MAX_RESOLVE_DEPTH {
                break;
            }
            seen[step] = current;
            current = following;
        }
        Err(BtfError::TooDeep { id: id.0 })
    }

    /// The type under any typedefs, `const`, `volatile`, `restrict` and type tags.
    pub fn skip_modifiers(&self, id: TypeId) -> Result<TypeId, BtfError> {
        self.walk(id, Type::modified)
    }

    /// [`Btf::skip_modifiers`], with the type found.
    pub fn resolved(&self, id: TypeId) -> Result<(TypeId, &Type), BtfError> {
        let id = self.skip_modifiers(id)?;
        Ok((id, self.get(id)?))
    }

    /// The size in bytes of a value of type `id`: typedefs, qualifiers and
    /// variables looked through, arrays multiplied out, pointers 8 bytes.
    pub fn size_of(&self, id: TypeId) -> Result<u32, BtfError> {
        let mut count: u64 = 1;
        let overflow = BtfError::SizeOverflow { id: id.0 };
        let element = self.walk(id, |ty| match ty {
            Type::Array(array) => {
                count = count.saturating_mul(u64::from(array.len));
                Some(array.elem)
            }
            Type::Var { target, .. } => Some(*target),
            other => other.modified(),
        })?;
        let size = match self.get(element)? {
            Type::Int(Int { size, .. }) | Type::Float { size, .. } | Type::Datasec { size, .. } => {
                *size
            }
            Type::Struct(c) | Type::Union(c) => c.size,
            Type::Enum(e) => e.size,
            Type::Ptr { .. } => 8,
            other => {
                return Err(BtfError::NotSized {
                    id: element.0,
                    kind: other.kind_name(),
                });
            }
        };
        count
            .checked_mul(u64::from(size))
            .and_then(|total| u32::try_from(total).ok())
            .ok_or(overflow)
    }

    /// The data section `name` (`.data`, `.maps`, ...): its id and variables.
    pub fn datasec(&self, name: &str) -> Option<(TypeId, &[VarSecInfo])> {
        self.types().find_map(|(id, ty)| match ty {
            Type::Datasec { name: n, vars, .. } if n == name => Some((id, vars.as_slice())),
            _ => None,
        })
    }

    /// Every data section: (id, name, variables), in id order.
    pub fn datasecs(&self) -> impl Iterator<Item = (TypeId, &str, &[VarSecInfo])> {
        self.types().filter_map(|(id, ty)| match ty {
            Type::Datasec { name, vars, .. } => Some((id, name.as_str(), vars.as_slice())),
            _ => None,
        })
    }

    /// Type `id` spelled as in C (`unsigned int`, `struct config`,
    /// `const volatile __u32`, `__u64 *`, `int[4]`). A chain deeper than
    /// [`MAX_RESOLVE_DEPTH`] ends in `...`.
    pub fn type_name(&self, id: TypeId) -> String {
        self.spell(id, MAX_RESOLVE_DEPTH)
    }

    fn spell(&self, id: TypeId, depth: usize) -> String {
        let Some(depth) = depth.checked_sub(1) else {
            return "...".to_owned();
        };
        let Ok(ty) = self.get(id) else {
            return format!("<no type {}>", id.0);
        };
        let tagged = |tag: &str, name: &Option<String>| match name {
            Some(name) => format!("{tag} {name}"),
            None => format!("{tag} (anon)"),
        };
        match ty {
            Type::Void => "void".to_owned(),
            Type::Int(Int { name, .. })
            | Type::Float { name, .. }
            | Type::Typedef { name, .. }
            | Type::Func { name, .. }
            | Type::Var { name, .. }
            | Type::Datasec { name, .. } => name.clone(),
            Type::Struct(c) => tagged("struct", &c.name),
            Type::Union(c) => tagged("union", &c.name),
            Type::Enum(e) => tagged("enum", &e.name),
            Type::Fwd { name, union } => {
                format!("{} {name}", if *union { "union" } else { "struct" })
            }
            Type::Ptr { target } => format!("{} *", self.spell(*target, depth)),
            Type::Const { target } => format!("const {}", self.spell(*target, depth)),
            Type::Volatile { target } => format!("volatile {}", self.spell(*target, depth)),
            Type::Restrict { target } => format!("{} restrict", self.spell(*target, depth)),
            Type::TypeTag { target, .. } | Type::DeclTag { target, .. } => {
                self.spell(*target, depth)
            }
            Type::Array(array) => format!("{}[{}]", self.spell(array.elem, depth), array.len),
            Type::FuncProto { ret, params } => {
                let params: Vec<String> = params
                    .iter()
                    .map(|p| self.spell(p.type_id, depth))
                    .collect();
                format!("{} ({})", self.spell(*ret, depth), params.join(", "))
            }
        }
    }
}
