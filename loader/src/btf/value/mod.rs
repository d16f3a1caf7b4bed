//! Values described by BTF: bytes shown as what their type says they hold
//! ([`format`](fn@format)), and values read from JSON or a command line
//! stored as bytes ([`encode`], [`Assignment`]), for map entries and global
//! variables.
//!
//! # How bytes are shown
//!
//! As bpftool's `map dump` shows its `"formatted"` form (its
//! `btf_dumper.c`), into a [`Value`] that writes itself as JSON
//! ([`Value::write_json`]), one line of text (`Display`:
//! `{packets: 3, name: "eth0", flags: [1, 0]}`) or indented lines
//! ([`Value::write_pretty`]):
//!
//! - integers as numbers, signed or not as their type says, `__int128`
//!   included; pointers as unsigned numbers; `_Bool` as `true`/`false`;
//!   an integer with the `char` encoding as a one-character string when
//!   printable;
//! - enums by their enumerator's name when one has the value, else as the
//!   number;
//! - structs and unions as objects by member name, in declaration order;
//! - arrays as lists; an array of `char` (under qualifiers, not typedefs)
//!   as a string when the bytes before its first NUL are printable ASCII;
//! - bitfields as numbers, read little-endian, sign-extended when signed,
//!   enum bitfields by name;
//! - `float` and `double` (and 16-bit floats) as numbers; wider floats as
//!   their bytes in hex.
//!
//! Where this differs from bpftool, on purpose:
//!
//! - the members of an anonymous struct or union appear among their
//!   parent's members, as C code names them (`value.as_u32`); bpftool nests
//!   them under the name `""` (which [`encode`] also reads);
//! - bitfields and 128-bit integers are numbers; bpftool writes them as hex
//!   strings (which [`encode`] also reads);
//! - a `char` array is a string only when every byte after its first NUL is
//!   zero too, so the string says all the bytes do (bpftool drops what
//!   follows the NUL); other `char` arrays are lists of numbers;
//! - a `_Bool` holding neither 0 nor 1 shows the number it holds;
//! - a data section (global variables) is an object of its variables by
//!   name ([`format_section`]); bpftool writes a list of one-member objects.
//!
//! # How values are stored
//!
//! [`encode`] takes what [`format`](fn@format) gives, and more: numbers as
//! JSON numbers or strings (`"0x1f"`, `"-3"`), range-checked for the type's
//! width and signedness (a one-character string for a `char` is the
//! character); strings into `char` (or other byte) arrays, with their NUL;
//! `true`/`false` for a `_Bool`; enumerators by name or by a number of the
//! enum's width, signed or not; objects into structs by member
//! name (an unknown or repeated member is an error; members left out are
//! zero, as in a C initializer — bpftool's `map update` has no such form,
//! it takes all the bytes); lists into arrays (too many is an error, fewer
//! leaves zeros). Every error names the place, `config.limits[2]`, and the
//! C type there.
//!
//! # Bounds
//!
//! Formatting stops at [`MAX_NESTING`] levels (an error), and cuts lists,
//! structs and strings short past the [`Limits`] (a [`Value::Elided`] or
//! [`Value::Truncated`] part); the bytes examined are bounded by a few
//! times the value's size. Encoding does work linear in the value given.
//! No input makes either panic: sizes and offsets from the BTF are checked
//! against the bytes at every step.

mod assign;
mod encode;
mod error;
mod format;
mod globals;
mod json;
mod layout;
mod tree;

pub use assign::{Assignment, Patch};
pub use encode::{encode, encode_into};
pub use error::{PathStep, Problem, ValueError};
pub use format::format;
pub use globals::{
    MapTypes, assign_global, encode_global, encode_section, format_global, format_section,
};
pub use json::{MAX_JSON_DEPTH, ParseError};
pub use tree::{Float, Integer, Value};

/// The deepest nesting of structs, unions and arrays formatted or encoded.
pub const MAX_NESTING: usize = 64;

/// How much of a value [`format`](fn@format) shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// About how many characters of output: once spent, the rest of each
    /// list and struct is replaced by one [`Value::Elided`].
    pub max_output: usize,
    /// The most characters of one string; a longer one is
    /// [`Value::Truncated`].
    pub max_string: usize,
}

impl Limits {
    /// For `--json` and other complete output: 1 MiB, strings up to 4 KiB.
    pub const FULL: Limits = Limits {
        max_output: 1 << 20,
        max_string: 4096,
    };
    /// For one entry of a table: about 240 characters, strings up to 64.
    pub const TABLE: Limits = Limits {
        max_output: 240,
        max_string: 64,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::FULL
    }
}
