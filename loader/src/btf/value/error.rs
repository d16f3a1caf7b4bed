//! [`ValueError`]: why bytes cannot be shown as their type, or a value cannot
//! be stored as it, with the place (`config.limits[2]`) and the C type.

use std::fmt;

use thiserror::Error;

use crate::btf::BtfError;

/// Why a value cannot be formatted or encoded: where (a path such as
/// `config.limits[2]`), the C type there, and the [`Problem`].
///
/// ```
/// use tinybpf_loader::btf::value::{Problem, ValueError};
/// let error = ValueError {
///     path: "config.limits[2]".to_owned(),
///     type_name: "__u8".to_owned(),
///     problem: Problem::OutOfRange { value: "300".to_owned(), min: "0".to_owned(), max: "255".to_owned() },
/// };
/// assert_eq!(error.to_string(), "config.limits[2] (__u8): 300 does not fit: it holds 0 to 255");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{} ({type_name}): {problem}", if path.is_empty() { "the value" } else { path.as_str() })]
pub struct ValueError {
    /// The place: members after dots, indexes in brackets, starting with
    /// the variable's name for a global, `key` or `value` for a map entry,
    /// and empty for the whole of a value given alone.
    pub path: String,
    /// The type at that place, spelled as in C.
    pub type_name: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a value (the rest of a [`ValueError`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Problem {
    /// The bytes are not as many as the type takes.
    #[error("{actual} bytes given, but the type takes {expected}")]
    WrongSize {
        /// The type's size.
        expected: u64,
        /// The bytes given.
        actual: u64,
    },
    /// The type graph itself is unusable (a loop, no size, a missing type).
    #[error("{0}")]
    Btf(BtfError),
    /// Structs and arrays nested deeper than [`MAX_NESTING`](super::MAX_NESTING).
    #[error("nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A kind that holds no value (void, a function, a forward declaration).
    #[error("a {kind} holds no value")]
    NoValue {
        /// The kind (`FUNC`, `FWD`, ...).
        kind: &'static str,
    },
    /// A member (or variable) lies outside the bytes of what contains it.
    #[error(
        "it lies at bit {bit_offset} with {bits} bits, outside the {outer_bytes} bytes that contain it"
    )]
    Outside {
        /// Where it starts, in bits.
        bit_offset: u64,
        /// Its size, in bits.
        bits: u64,
        /// The size of what contains it.
        outer_bytes: u64,
    },
    /// A member that is not an integer starts inside a byte.
    #[error("it starts at bit {bit_offset}, inside a byte, but is not an integer")]
    Misaligned {
        /// Its offset in bits.
        bit_offset: u64,
    },
    /// A bitfield whose type or width is not possible in C.
    #[error("a bitfield of {bits} bits cannot be a {kind} of {type_bits} bits")]
    BadBitfield {
        /// The bitfield's width.
        bits: u32,
        /// The kind of its type.
        kind: &'static str,
        /// The width of its type.
        type_bits: u32,
    },
    /// The value given is not of a shape the type takes.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What the type takes.
        expected: &'static str,
        /// What was given (`the string "abc"`, `an object`).
        found: String,
    },
    /// A number outside the type's range.
    #[error("{value} does not fit: it holds {min} to {max}")]
    OutOfRange {
        /// The number given.
        value: String,
        /// The smallest the type holds.
        min: String,
        /// The largest the type holds.
        max: String,
    },
    /// A number with a fraction where an integer is needed.
    #[error("{value} is not an integer")]
    NotInteger {
        /// The number given.
        value: String,
    },
    /// A string longer than its `char` array (with the terminating NUL).
    #[error(
        "the string takes {bytes} bytes with its terminating NUL, but the array holds {capacity}"
    )]
    StringTooLong {
        /// Bytes the string needs, NUL included.
        bytes: u64,
        /// Bytes in the array.
        capacity: u64,
    },
    /// More elements than the array holds.
    #[error("{given} elements given, but the array holds {len}")]
    TooManyElements {
        /// Elements given.
        given: u64,
        /// Elements in the array.
        len: u64,
    },
    /// An index past the end of an array.
    #[error("index {index} is past the end of the array ({len} elements)")]
    IndexOutOfRange {
        /// The index given.
        index: u64,
        /// Elements in the array.
        len: u64,
    },
    /// A member name the struct or union does not have.
    #[error("there is no member {name:?} (members: {members})")]
    UnknownMember {
        /// The name given.
        name: String,
        /// The members there are.
        members: String,
    },
    /// A member named twice in one object.
    #[error("member {name:?} is given twice")]
    DuplicateMember {
        /// The name.
        name: String,
    },
    /// A name that is none of the enum's enumerators.
    #[error("{name:?} is not one of its enumerators ({known}); give a name or a number")]
    UnknownEnumerator {
        /// The name given.
        name: String,
        /// The enumerators there are.
        known: String,
    },
    /// A path step into something that has no members or elements.
    #[error("a {kind} has no {what}")]
    NoSuchStep {
        /// The kind there.
        kind: &'static str,
        /// `members` or `elements`.
        what: &'static str,
    },
    /// A number that does not fit the float type.
    #[error("{value} is out of range for a {bits}-bit float")]
    FloatOutOfRange {
        /// The number given.
        value: String,
        /// The float's width.
        bits: u32,
    },
    /// A part of the value was left out when it was formatted (`... (N more)`).
    #[error("a value shown in part (\"... (N more)\") cannot be stored; give it whole")]
    Elided,
    /// A global variable without BTF type.
    #[error("the object has no BTF type for it")]
    NoType,
}

/// One step of a path: a member or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// `.name`
    Member(String),
    /// `[index]`
    Index(u64),
}

impl fmt::Display for PathStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathStep::Member(name) => write!(f, ".{name}"),
            PathStep::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// A path as written in messages: `root`, then the steps; without a root,
/// the leading dot is dropped (`limits[2]`).
pub(crate) fn render_path(root: &str, steps: &[PathStep]) -> String {
    let mut path = root.to_owned();
    for step in steps {
        path.push_str(&step.to_string());
    }
    if root.is_empty()
        && let Some(rest) = path.strip_prefix('.')
    {
        return rest.to_owned();
    }
    path
}

/// A short description of a value given, for [`Problem::Expected`].
pub(crate) fn describe(value: &super::Value) -> String {
    use super::Value;
    let mut text = match value {
        Value::Null => return "null".to_owned(),
        Value::Bool(b) => return b.to_string(),
        Value::Int(i) => format!("the number {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Str(s) | Value::Enumerator(s) => format!("the string {s:?}"),
        Value::Truncated { .. } | Value::Elided { .. } => {
            return "a value shown in part".to_owned();
        }
        Value::Bytes(_) => return "bytes".to_owned(),
        Value::List(items) => return format!("an array of {} elements", items.len()),
        Value::Object(_) => return "an object".to_owned(),
    };
    if text.len() > 60 {
        let mut cut = 57;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Names joined by commas, at most `max` of them, then `...`.
pub(crate) fn name_list<'a>(names: impl Iterator<Item = &'a str>, max: usize) -> String {
    let mut out = String::new();
    for (i, name) in names.enumerate() {
        if i == max {
            out.push_str(", ...");
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_c() {
        let steps = [
            PathStep::Member("limits".to_owned()),
            PathStep::Index(2),
            PathStep::Member("x".to_owned()),
        ];
        assert_eq!(render_path("config", &steps), "config.limits[2].x");
        assert_eq!(render_path("", &steps), "limits[2].x");
        assert_eq!(render_path("", &steps[1..]), "[2].x");
        assert_eq!(render_path("", &[]), "");
    }

    #[test]
    fn the_whole_value_is_named_when_there_is_no_path() {
        let error = ValueError {
            path: String::new(),
            type_name: "struct record".to_owned(),
            problem: Problem::WrongSize {
                expected: 176,
                actual: 4,
            },
        };
        assert_eq!(
            error.to_string(),
            "the value (struct record): 4 bytes given, but the type takes 176"
        );
    }

    #[test]
    fn descriptions_and_lists_are_short() {
        let long = super::super::Value::Str("x".repeat(500));
        assert!(describe(&long).len() <= 60);
        assert_eq!(name_list(["a", "b", "c"].into_iter(), 2), "a, b, ...");
        assert_eq!(name_list(std::iter::empty(), 2), "none");
    }
}
