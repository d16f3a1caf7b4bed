//! The BTF type model: one [`Type`] per type id, names resolved to strings,
//! every referenced id checked to exist.

/// A BTF type id: an index into [`Btf`](super::Btf)'s types. Id 0 is `void`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TypeId(pub u32);

impl TypeId {
    /// The `void` type (id 0).
    pub const VOID: TypeId = TypeId(0);
}

impl std::fmt::Display for TypeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An integer type (`BTF_KIND_INT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Int {
    /// Its name (`int`, `unsigned long long`, `_Bool`, ...).
    pub name: String,
    /// Its size in bytes (1, 2, 4, 8 or 16).
    pub size: u32,
    /// Whether it is signed (`BTF_INT_SIGNED`).
    pub signed: bool,
    /// Whether it is a character type (`BTF_INT_CHAR`).
    pub char: bool,
    /// Whether it is a boolean (`BTF_INT_BOOL`).
    pub bool: bool,
    /// The number of value bits (at most `8 * size`).
    pub bits: u8,
    /// The offset of the value bits inside the storage (almost always 0).
    pub bit_offset: u8,
}

/// One member of a struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name; `None` for an anonymous member (a nested anonymous struct or union).
    pub name: Option<String>,
    /// Its type.
    pub type_id: TypeId,
    /// Its offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// For a bitfield, its width in bits; `None` for an ordinary member.
    pub bitfield_size: Option<u8>,
}

impl Member {
    /// The member's offset in bytes, when it starts on a byte boundary.
    pub fn byte_offset(&self) -> Option<u32> {
        self.bit_offset
            .is_multiple_of(8)
            .then_some(self.bit_offset / 8)
    }
}

/// A struct or a union (`BTF_KIND_STRUCT`, `BTF_KIND_UNION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composite {
    /// Its tag name; `None` when anonymous.
    pub name: Option<String>,
    /// Its size in bytes.
    pub size: u32,
    /// Its members, in declaration order.
    pub members: Vec<Member>,
}

impl Composite {
    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.name.as_deref() == Some(name))
    }
}

/// An array (`BTF_KIND_ARRAY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Array {
    /// The element type.
    pub elem: TypeId,
    /// The index type.
    pub index: TypeId,
    /// The number of elements (0 for a flexible array member).
    pub len: u32,
}

/// An enumeration (`BTF_KIND_ENUM` or `BTF_KIND_ENUM64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enum {
    /// Its tag name; `None` when anonymous.
    pub name: Option<String>,
    /// Its size in bytes.
    pub size: u32,
    /// Whether the values are signed.
    pub signed: bool,
    /// The enumerators: (name, value), in declaration order.
    pub values: Vec<(String, i64)>,
}

/// A function parameter of a [`Type::FuncProto`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name, when the prototype gives one.
    pub name: Option<String>,
    /// Its type; `void` (id 0) for the `...` of a variadic function.
    pub type_id: TypeId,
}

/// Where a global variable lives in a data section (`struct btf_var_secinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSecInfo {
    /// The [`Type::Var`].
    pub var: TypeId,
    /// Its offset in the section (0 in clang's objects for non-static variables:
    /// the ELF symbol gives it).
    pub offset: u32,
    /// Its size in bytes.
    pub size: u32,
}

/// How a variable or function is visible (`enum btf_func_linkage` /
/// `enum btf_var_linkage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// `static`: visible in its file only.
    Static,
    /// Global, defined here.
    Global,
    /// Global, defined elsewhere (`extern`).
    Extern,
    /// A value this loader does not know.
    Other(u32),
}

impl Linkage {
    pub(crate) fn from_raw(raw: u32) -> Linkage {
        match raw {
            0 => Linkage::Static,
            1 => Linkage::Global,
            2 => Linkage::Extern,
            other => Linkage::Other(other),
        }
    }
}

/// One BTF type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// Id 0: `void`.
    Void,
    /// An integer.
    Int(Int),
    /// A pointer.
    Ptr {
        /// The pointee.
        target: TypeId,
    },
    /// An array.
    Array(Array),
    /// A struct.
    Struct(Composite),
    /// A union.
    Union(Composite),
    /// An enum (32- or 64-bit).
    Enum(Enum),
    /// A forward declaration of a struct or union.
    Fwd {
        /// Its tag name.
        name: String,
        /// Whether it declares a union (else a struct).
        union: bool,
    },
    /// A typedef.
    Typedef {
        /// The new name.
        name: String,
        /// The type it names.
        target: TypeId,
    },
    /// `volatile T`.
    Volatile {
        /// `T`.
        target: TypeId,
    },
    /// `const T`.
    Const {
        /// `T`.
        target: TypeId,
    },
    /// `restrict T`.
    Restrict {
        /// `T`.
        target: TypeId,
    },
    /// A type tag (`__attribute__((btf_type_tag("...")))`) on `T`.
    TypeTag {
        /// The tag.
        name: String,
        /// `T`.
        target: TypeId,
    },
    /// A function.
    Func {
        /// Its name.
        name: String,
        /// Its [`Type::FuncProto`].
        proto: TypeId,
        /// Its linkage.
        linkage: Linkage,
    },
    /// A function prototype.
    FuncProto {
        /// The return type.
        ret: TypeId,
        /// The parameters.
        params: Vec<Param>,
    },
    /// A global variable.
    Var {
        /// Its name.
        name: String,
        /// Its type.
        target: TypeId,
        /// Its linkage.
        linkage: Linkage,
    },
    /// A data section and the variables in it.
    Datasec {
        /// The section name (`.data`, `.maps`, ...).
        name: String,
        /// Its size (0 in clang's objects: the ELF section gives it).
        size: u32,
        /// Its variables.
        vars: Vec<VarSecInfo>,
    },
    /// A floating-point type.
    Float {
        /// Its name.
        name: String,
        /// Its size in bytes.
        size: u32,
    },
    /// A declaration tag (`__attribute__((btf_decl_tag("...")))`).
    DeclTag {
        /// The tag.
        name: String,
        /// The tagged type, variable or function.
        target: TypeId,
        /// The member or parameter index, or -1 for the whole.
        component: i32,
    },
}

impl Type {
    /// The kind's name as BTF dumps show it (`INT`, `STRUCT`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Type::Void => "VOID",
            Type::Int(_) => "INT",
            Type::Ptr { .. } => "PTR",
            Type::Array(_) => "ARRAY",
            Type::Struct(_) => "STRUCT",
            Type::Union(_) => "UNION",
            Type::Enum(_) => "ENUM",
            Type::Fwd { .. } => "FWD",
            Type::Typedef { .. } => "TYPEDEF",
            Type::Volatile { .. } => "VOLATILE",
            Type::Const { .. } => "CONST",
            Type::Restrict { .. } => "RESTRICT",
            Type::TypeTag { .. } => "TYPE_TAG",
            Type::Func { .. } => "FUNC",
            Type::FuncProto { .. } => "FUNC_PROTO",
            Type::Var { .. } => "VAR",
            Type::Datasec { .. } => "DATASEC",
            Type::Float { .. } => "FLOAT",
            Type::DeclTag { .. } => "DECL_TAG",
        }
    }

    /// The type's own name, when it has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Type::Int(Int { name, .. })
            | Type::Fwd { name, .. }
            | Type::Typedef { name, .. }
            | Type::TypeTag { name, .. }
            | Type::Func { name, .. }
            | Type::Var { name, .. }
            | Type::Datasec { name, .. }
            | Type::Float { name, .. }
            | Type::DeclTag { name, .. } => Some(name),
            Type::Struct(c) | Type::Union(c) => c.name.as_deref(),
            Type::Enum(e) => e.name.as_deref(),
            _ => None,
        }
    }

    /// For a typedef or a qualifier (`const`, `volatile`, `restrict`, type
    /// tag), the type it applies to.
    pub fn modified(&self) -> Option<TypeId> {
        match self {
            Type::Typedef { target, .. }
            | Type::Volatile { target }
            | Type::Const { target }
            | Type::Restrict { target }
            | Type::TypeTag { target, .. } => Some(*target),
            _ => None,
        }
    }

    /// Every type id this type refers to (for validation).
    pub(crate) fn references(&self) -> Vec<TypeId> {
        match self {
            Type::Ptr { target }
            | Type::Typedef { target, .. }
            | Type::Volatile { target }
            | Type::Const { target }
            | Type::Restrict { target }
            | Type::TypeTag { target, .. }
            | Type::Var { target, .. }
            | Type::DeclTag { target, .. } => vec![*target],
            Type::Func { proto, .. } => vec![*proto],
            Type::Array(a) => vec![a.elem, a.index],
            Type::Struct(c) | Type::Union(c) => c.members.iter().map(|m| m.type_id).collect(),
            Type::FuncProto { ret, params } => std::iter::once(*ret)
                .chain(params.iter().map(|p| p.type_id))
                .collect(),
            Type::Datasec { vars, .. } => vars.iter().map(|v| v.var).collect(),
            Type::Void | Type::Int(_) | Type::Enum(_) | Type::Fwd { .. } | Type::Float { .. } => {
                Vec::new()
            }
        }
    }
}
