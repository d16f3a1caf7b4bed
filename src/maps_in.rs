//! `--maps-in`: map entries to set before the first run, read from
//! `{"MAP": {"KEY": VALUE, ...}, ...}`, all checked before any is set.
//!
//! A key or a value is either
//! - a number: decimal (`"1"`, `-1`) or hex with `0x` (`"0x10"`), stored
//!   little-endian in the key's or value's width (a negative number in two's
//!   complement); it must fit that width. A value may also be a bare JSON
//!   number (`42`, `-1`); or
//! - exactly as many bytes as the width, in hex, in memory order, as `--json`
//!   prints them (`"01000000"`) or as the table prints them
//!   (`"01 00 00 00"`). A string of exactly twice the width in hex digits is
//!   always read as bytes, so `"10"` for a one-byte value is 0x10: write a
//!   decimal number of that many digits without quotes, or with `0x`.
//!
//! What each map type takes:
//! - arrays, per-CPU arrays and the slot maps (`prog_array`,
//!   `perf_event_array`, `devmap`, `cpumap`, `xskmap`): keys are indexes
//!   below `max_entries`;
//! - hashes (every kind), `lpm_trie` and `devmap_hash`: any key of
//!   `key_size` bytes; the map must have room for every new key (an LRU map
//!   would evict the others);
//! - per-CPU maps: either one value, which every CPU gets, or every CPU's
//!   value in the kernel's user-space format (each CPU's value padded to 8
//!   bytes, concatenated, CPU 0 first) as exactly that many bytes in hex, as
//!   `--json` prints it;
//! - `devmap`, `cpumap`, `xskmap`: their value as a number (an ifindex, a
//!   queue size, a socket) or its bytes (a devmap's 8-byte value is the
//!   ifindex then a program fd);
//! - `prog_array`: a program's index among the object's programs, as a
//!   number, or the program's name;
//! - ring buffers hold no entries.
//!
//! Every entry is checked before any is set, and if the map still refuses
//! one (a devmap entry without an ifindex, a cpumap queue too long...), the
//! entries already set are put back as they were: nothing is half-applied.

use thiserror::Error;

use tinybpf_maps::{BPF_ANY, MapType};

use crate::json::{MapsInMap, Scalar, SyntaxError, quote};
use crate::map::Map;
use crate::object::Object;

/// Why a `--maps-in` document cannot be applied. Each message is one
/// sentence that names the map and the key, and says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MapsInError {
    /// The text is not the JSON shape expected.
    #[error("{0}; the file must hold {{\"MAP\": {{\"KEY\": VALUE, ...}}, ...}}")]
    Syntax(#[from] SyntaxError),
    /// A map's name appears twice at the top level.
    #[error("map {} appears twice; put all its entries in one object", quote(.map))]
    DuplicateMap {
        /// The map name.
        map: String,
    },
    /// The object has no map of that name.
    #[error("there is no map {} in this object (maps: {available}); use one of those names", quote(.map))]
    NoSuchMap {
        /// The name given.
        map: String,
        /// The maps there are.
        available: String,
    },
    /// The map cannot be written from user space.
    #[error("map {} is frozen (read-only from user space), so its entries cannot be preset; leave it out", quote(.map))]
    Frozen {
        /// The map name.
        map: String,
    },
    /// A key is neither a number nor the key's bytes.
    #[error(
        "map {}: key {} {problem}; write the key as a number (\"1\", \"0x10\", \"-1\") or as its {key_size} bytes in hex ({})",
        quote(.map), quote(.key), example_bytes(*.key_size, 1)
    )]
    BadKey {
        /// The map name.
        map: String,
        /// The key as written.
        key: String,
        /// The map's key size.
        key_size: u32,
        /// What is wrong with it.
        problem: String,
    },
    /// An array key past the last entry.
    #[error(
        "map {}: key {} is index {index}, past the end of the map (it has {max_entries} entries, keys 0 to {}); use a key below {max_entries}",
        quote(.map), quote(.key), .max_entries.saturating_sub(1)
    )]
    KeyOutOfRange {
        /// The map name.
        map: String,
        /// The key as written.
        key: String,
        /// The index it reads as.
        index: u32,
        /// The map's size.
        max_entries: u32,
    },
    /// Two keys of one map name the same entry.
    #[error("map {}: {}; keep one of them", quote(.map), same_entry(.first, .second, *.index))]
    DuplicateKey {
        /// The map name.
        map: String,
        /// The first key as written.
        first: String,
        /// The second key as written.
        second: String,
        /// The array index both read as.
        index: Option<u32>,
    },
    /// A value is neither a number that fits nor the value's bytes.
    #[error(
        "map {}, key {}: value {value} {problem}; write the value as its {value_size} bytes in hex ({}) or as a number that fits in {value_size} bytes{}",
        quote(.map), quote(.key), example_bytes(*.value_size, 42), other_forms(*.percpu_bytes, *.program_names)
    )]
    BadValue {
        /// The map name.
        map: String,
        /// The key as written.
        key: String,
        /// The value as written (quoted when it was a string).
        value: String,
        /// The map's value size.
        value_size: u32,
        /// What is wrong with it.
        problem: String,
        /// For a per-CPU map: the size of every CPU's value together.
        percpu_bytes: Option<usize>,
        /// For a program array: whether a program name is accepted.
        program_names: bool,
    },
    /// More new keys than the map has room for.
    #[error(
        "map {}: it has room for {max_entries} entries and holds {present}, but --maps-in adds {new} new keys; give at most {} new keys",
        quote(.map), .max_entries.saturating_sub(*.present)
    )]
    TooManyEntries {
        /// The map name.
        map: String,
        /// The map's capacity.
        max_entries: u32,
        /// Entries it holds now.
        present: u32,
        /// New keys given.
        new: u32,
    },
    /// A map type without entries (a ring buffer).
    #[error("map {} is a {type_name} map, which holds no entries to preset; leave it out", quote(.map))]
    NoEntries {
        /// The map name.
        map: String,
        /// The map's type.
        type_name: &'static str,
    },
    /// The map exists in the object but cannot be created.
    #[error("map {} cannot be created, so its entries cannot be preset: {reason}", quote(.map))]
    CannotCreate {
        /// The map name.
        map: String,
        /// Why not.
        reason: String,
    },
    /// The map refused an update that passed every check; the entries set
    /// before it were put back.
    #[error(
        "map {}, key {}: the map refused the value: {source}; nothing was set, fix that entry",
        quote(.map), quote(.key)
    )]
    Rejected {
        /// The map name.
        map: String,
        /// The key as written.
        key: String,
        /// The map's error.
        source: tinybpf_maps::MapError,
    },
}

/// The other ways to write a value, for a per-CPU map or a program array.
fn other_forms(percpu_bytes: Option<usize>, program_names: bool) -> String {
    let mut text = String::new();
    if let Some(bytes) = percpu_bytes {
        text.push_str(&format!(
            " (every CPU gets it), or every CPU's value as {bytes} bytes in hex (each padded to 8, CPU 0 first)"
        ));
    }
    if program_names {
        text.push_str(", or the name of one of the object's programs");
    }
    text
}

/// An example of `width` bytes holding `n`, as the table prints them
/// (elided in the middle when long).
fn example_bytes(width: u32, n: u8) -> String {
    let bytes: Vec<String> = (0..width.min(8))
        .map(|i| format!("{:02x}", if i == 0 { n } else { 0 }))
        .collect();
    let more = if width > 8 { " ..." } else { "" };
    format!("\"{}{more}\"", bytes.join(" "))
}

/// Checked `--maps-in` entries, ready to be set.
#[derive(Debug, Clone)]
pub struct MapsIn {
    entries: Vec<Preset>,
}

#[derive(Debug, Clone)]
struct Preset {
    map: Map,
    key_text: String,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl MapsIn {
    /// Reads a `--maps-in` document and checks every entry against `object`'s
    /// maps: names, key and value widths, array bounds, duplicates, frozen
    /// maps. Nothing is set yet.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/multi_maps.o");
    /// let object = tinybpf::Object::open(path)?;
    /// let presets = tinybpf::MapsIn::parse(r#"{"counters": {"1": 41, "0x2": "ff ff 00 00 00 00 00 00"}}"#, &object)?;
    /// presets.apply()?;
    /// assert_eq!(object.map("counters")?.get_at::<u64>(1)?, 41);
    /// assert_eq!(object.map("counters")?.get_at::<u64>(2)?, 0xffff);
    /// let err = tinybpf::MapsIn::parse(r#"{"counters": {"9": 1}}"#, &object).unwrap_err();
    /// assert!(err.to_string().contains("use a key below 4"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn parse(text: &str, object: &Object) -> Result<MapsIn, MapsInError> {
        let document = crate::json::parse_maps_in(text)?;
        let mut entries = Vec::new();
        for (at, map_entries) in document.iter().enumerate() {
            if document[..at].iter().any(|m| m.name == map_entries.name) {
                return Err(MapsInError::DuplicateMap {
                    map: map_entries.name.clone(),
                });
            }
            entries.extend(check_map(object, map_entries)?);
        }
        Ok(MapsIn { entries })
    }

    /// How many entries will be set.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the document sets nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets every entry (as `bpf_map_update_elem(.., BPF_ANY)` from user
    /// space). When a map refuses one, the entries set before it are put
    /// back as they were (values restored, new keys deleted) and the error
    /// names the entry.
    pub fn apply(&self) -> Result<(), MapsInError> {
        let mut done: Vec<(&Preset, Option<Vec<u8>>)> = Vec::with_capacity(self.entries.len());
        for preset in &self.entries {
            let before = current_value(&preset.map, &preset.key);
            match preset
                .map
                .bpf_map()
                .update(&preset.key, &preset.value, BPF_ANY)
            {
                Ok(()) => done.push((preset, before)),
                Err(source) => {
                    for (undo, before) in done.iter().rev() {
                        let map = undo.map.bpf_map();
                        // Putting back what was there succeeds: the key
                        // existed with that value, or was added here.
                        let _ = match before {
                            Some(value) => map.update(&undo.key, value, BPF_ANY),
                            None => map.delete(&undo.key),
                        };
                    }
                    return Err(MapsInError::Rejected {
                        map: preset.map.name().to_owned(),
                        key: preset.key_text.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

/// The value `key` holds now (user-space format), or `None` when absent;
/// read from the entries for the types whose lookups user space may not
/// make (xskmap, perf event array).
fn current_value(map: &Map, key: &[u8]) -> Option<Vec<u8>> {
    match map.bpf_map().lookup(key) {
        Ok(value) => Some(value),
        Err(_) => map
            .entries()
            .find(|(k, _)| k.as_slice() == key)
            .map(|(_, value)| value),
    }
}

/// Whether `map_type`'s keys are indexes below `max_entries`.
fn index_keyed(map_type: MapType) -> bool {
    matches!(
        map_type,
        MapType::Array
            | MapType::PercpuArray
            | MapType::ProgArray
            | MapType::PerfEventArray
            | MapType::Devmap
            | MapType::Cpumap
            | MapType::Xskmap
    )
}

/// Checks one map's entries.
fn check_map(object: &Object, given: &MapsInMap) -> Result<Vec<Preset>, MapsInError> {
    let declared = &object.linked().maps;
    if !declared.iter().any(|m| m.name == given.name) {
        let names: Vec<&str> = declared.iter().map(|m| m.name.as_str()).collect();
        return Err(MapsInError::NoSuchMap {
            map: given.name.clone(),
            available: if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            },
        });
    }
    // Created now if the program did not create it (as `Object::map` does).
    let map = object
        .map(&given.name)
        .map_err(|error| MapsInError::CannotCreate {
            map: given.name.clone(),
            reason: error.to_string(),
        })?;
    if map.is_frozen() {
        return Err(MapsInError::Frozen {
            map: given.name.clone(),
        });
    }
    let map_type = map.map_type();
    if map_type == MapType::Ringbuf && !given.entries.is_empty() {
        return Err(MapsInError::NoEntries {
            map: given.name.clone(),
            type_name: map.type_name(),
        });
    }
    let def = map.def();
    let is_array = index_keyed(map_type);
    let mut presets: Vec<Preset> = Vec::with_capacity(given.entries.len());
    for (key_text, value) in &given.entries {
        let key = crate::typed::read_key(object, map, key_text)
            .unwrap_or_else(|| parse_bytes(key_text, def.key_size))
            .map_err(|problem| MapsInError::BadKey {
                map: given.name.clone(),
                key: key_text.clone(),
                key_size: def.key_size,
                problem: problem.describe(def.key_size, "key_size"),
            })?;
        let index = match <[u8; 4]>::try_from(key.as_slice()) {
            Ok(bytes) if is_array => Some(u32::from_le_bytes(bytes)),
            _ => None,
        };
        if let Some(index) = index.filter(|&index| index >= def.max_entries) {
            return Err(MapsInError::KeyOutOfRange {
                map: given.name.clone(),
                key: key_text.clone(),
                index,
                max_entries: def.max_entries,
            });
        }
        if let Some(first) = presets.iter().find(|p| p.key == key) {
            return Err(MapsInError::DuplicateKey {
                map: given.name.clone(),
                first: first.key_text.clone(),
                second: key_text.clone(),
                index,
            });
        }
        let value_text = match value {
            Scalar::String(text) => quote(text),
            Scalar::Number(text) | Scalar::Json(text) => text.clone(),
        };
        let value = parse_value(object, map, value).map_err(|problem| MapsInError::BadValue {
            map: given.name.clone(),
            key: key_text.clone(),
            value: value_text,
            value_size: def.value_size,
            problem: problem.describe(def.value_size, "value_size"),
            percpu_bytes: map_type.is_percpu().then(|| map.user_value_size()),
            program_names: map_type == MapType::ProgArray,
        })?;
        presets.push(Preset {
            map: map.clone(),
            key_text: key_text.clone(),
            key,
            value,
        });
    }
    if !is_array {
        check_room(map, &given.name, &presets)?;
    }
    Ok(presets)
}

/// A value as the map takes it from user space (see the module docs).
fn parse_value(object: &Object, map: &Map, value: &Scalar) -> Result<Vec<u8>, BytesProblem> {
    let value_size = map.def().value_size;
    if map.map_type() == MapType::ProgArray
        && let Scalar::String(name) = value
        && let Some(index) = object.program_names().iter().position(|p| p == name)
    {
        let index = u32::try_from(index).map_err(|_| BytesProblem::DoesNotFit)?;
        return parse_number(&index.to_string(), value_size);
    }
    if map.map_type().is_percpu()
        && let Scalar::String(text) = value
        && let Some(all) = exact_hex(text, map.user_value_size())
    {
        return Ok(all);
    }
    let one = match value {
        Scalar::Json(text) => crate::typed::read_value(object, map, text)?,
        Scalar::String(text) => match parse_bytes(text, value_size) {
            Ok(bytes) => bytes,
            // An enumerator's name, a string for a char array.
            Err(problem) => crate::typed::read_value_text(object, map, text).ok_or(problem)?,
        },
        Scalar::Number(text) => parse_number(text, value_size)?,
    };
    if !map.map_type().is_percpu() {
        return Ok(one);
    }
    let mut all = Vec::with_capacity(map.user_value_size());
    for _ in 0..map.possible_cpus() {
        all.extend_from_slice(&one);
        all.resize(all.len().next_multiple_of(8), 0);
    }
    Ok(all)
}

/// A map whose keys are not indexes must have room for every new key.
fn check_room(map: &Map, name: &str, presets: &[Preset]) -> Result<(), MapsInError> {
    let new = presets
        .iter()
        .filter(|p| current_value(map, &p.key).is_none())
        .count();
    let present = map.entries().count();
    let max_entries = map.def().max_entries;
    if present.saturating_add(new) > max_entries as usize {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        return Err(MapsInError::TooManyEntries {
            map: name.to_owned(),
            max_entries,
            present: count(present),
            new: count(new),
        });
    }
    Ok(())
}

/// Why a key or value text does not give its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BytesProblem {
    /// Nothing but spaces.
    Empty,
    /// Hex bytes, but not as many as the width.
    ByteCount(usize),
    /// A number too large (or too negative) for the width.
    DoesNotFit,
    /// A number with a fraction or an exponent.
    NotWhole,
    /// A decimal number with a leading zero (likely hex bytes of the wrong count).
    LeadingZero,
    /// Neither a number nor hex bytes.
    Unreadable,
    /// JSON that the BTF type does not take (the sentence's middle).
    Typed(String),
}

impl BytesProblem {
    /// The problem as the middle of a sentence, for a key or value of
    /// `width` bytes (the map's `field`, `key_size` or `value_size`).
    fn describe(&self, width: u32, field: &str) -> String {
        match self {
            BytesProblem::Empty => "is empty".to_owned(),
            BytesProblem::Typed(problem) => problem.clone(),
            BytesProblem::ByteCount(n) => {
                format!(
                    "is {} of hex, but the map's {field} is {width}",
                    bytes(*n as u64)
                )
            }
            BytesProblem::DoesNotFit => format!(
                "does not fit in the map's {field} of {}{}",
                bytes(width.into()),
                range_of(width)
            ),
            BytesProblem::NotWhole => "is not a whole number".to_owned(),
            BytesProblem::LeadingZero => format!(
                "starts with 0 but is neither a decimal number (which would not) nor {} of hex (the map's {field})",
                bytes(width.into())
            ),
            BytesProblem::Unreadable => format!(
                "is neither a number nor {} of hex (the map's {field})",
                bytes(width.into())
            ),
        }
    }
}

/// `1 byte`, `4 bytes`.
fn bytes(n: u64) -> String {
    format!("{n} byte{}", if n == 1 { "" } else { "s" })
}

/// The middle of the duplicate-key sentence.
fn same_entry(first: &str, second: &str, index: Option<u32>) -> String {
    if first == second {
        return format!("key {} appears twice", quote(first));
    }
    let index = index.map(|i| format!(" (index {i})")).unwrap_or_default();
    format!(
        "keys {} and {} are the same entry{index}",
        quote(first),
        quote(second)
    )
}

/// ` (from MIN to MAX)` for widths of up to 8 bytes.
fn range_of(width: u32) -> String {
    if width == 0 || width > 8 {
        return String::new();
    }
    let bits = 8 * width;
    let max = u64::MAX >> (64 - bits);
    let min = -(1i128 << (bits - 1));
    format!(" (from {min} to {max})")
}

/// The bytes of a key or value written as a string (see the module documentation).
fn parse_bytes(text: &str, width: u32) -> Result<Vec<u8>, BytesProblem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(BytesProblem::Empty);
    }
    let width_usize = width as usize;
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let is_hex_pair = |t: &&str| t.len() == 2 && t.bytes().all(|b| b.is_ascii_hexdigit());
    if tokens.len() > 1 {
        // Spaced hex, as the table prints it.
        if tokens.iter().all(is_hex_pair) {
            if tokens.len() != width_usize {
                return Err(BytesProblem::ByteCount(tokens.len()));
            }
            return Ok(tokens.iter().map(|t| hex_byte(t.as_bytes())).collect());
        }
        return Err(BytesProblem::Unreadable);
    }
    let all_hex = text.bytes().all(|b| b.is_ascii_hexdigit());
    if all_hex && text.len() == 2 * width_usize {
        return Ok(text.as_bytes().chunks(2).map(hex_byte).collect());
    }
    match parse_number(text, width) {
        Err(BytesProblem::Unreadable | BytesProblem::LeadingZero)
            if all_hex && text.len().is_multiple_of(2) =>
        {
            Err(BytesProblem::ByteCount(text.len() / 2))
        }
        other => other,
    }
}

/// `text` as exactly `width` bytes of hex (`"0102"` or `"01 02"`), or `None`.
fn exact_hex(text: &str, width: usize) -> Option<Vec<u8>> {
    let is_hex = |t: &str| t.bytes().all(|b| b.is_ascii_hexdigit());
    let tokens: Vec<&str> = text.split_whitespace().collect();
    match tokens.as_slice() {
        [one] if one.len() == 2 * width && is_hex(one) => {
            Some(one.as_bytes().chunks(2).map(hex_byte).collect())
        }
        many if many.len() == width && many.iter().all(|t| t.len() == 2 && is_hex(t)) => {
            Some(many.iter().map(|t| hex_byte(t.as_bytes())).collect())
        }
        _ => None,
    }
}

/// The value of two ASCII hex digits (checked by the caller).
fn hex_byte(pair: &[u8]) -> u8 {
    let digit = |d: u8| match d {
        b'0'..=b'9' => d - b'0',
        _ => (d | 0x20) - b'a' + 10,
    };
    (digit(pair[0]) << 4) | digit(pair[1])
}

/// A whole number (decimal, or hex with `0x`; optionally negative) as
/// `width` little-endian bytes.
fn parse_number(text: &str, width: u32) -> Result<Vec<u8>, BytesProblem> {
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (digits, radix) = match magnitude
        .strip_prefix("0x")
        .or_else(|| magnitude.strip_prefix("0X"))
    {
        Some(hex) => (hex, 16),
        None => (magnitude, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        let looks_decimal = radix == 10
            && digits.bytes().any(|b| b.is_ascii_digit())
            && digits
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'));
        return Err(if looks_decimal {
            BytesProblem::NotWhole
        } else {
            BytesProblem::Unreadable
        });
    }
    if radix == 10 && digits.len() > 1 && digits.starts_with('0') {
        return Err(BytesProblem::LeadingZero);
    }
    let magnitude = u128::from_str_radix(digits, radix).map_err(|_| BytesProblem::DoesNotFit)?;
    // -0 is 0.
    let negative = negative && magnitude != 0;
    if width == 0 {
        return Err(BytesProblem::DoesNotFit);
    }
    let bits = 8 * u64::from(width);
    let fits = if negative {
        bits >= 128 || magnitude <= 1u128 << (bits - 1)
    } else {
        bits >= 128 || magnitude < 1u128 << bits
    };
    if !fits || (negative && magnitude > 1u128 << 127) {
        return Err(BytesProblem::DoesNotFit);
    }
    let (low, fill) = if negative {
        ((magnitude as i128).wrapping_neg().to_le_bytes(), 0xff)
    } else {
        (magnitude.to_le_bytes(), 0)
    };
    let width = width as usize;
    let mut bytes = vec![fill; width];
    let n = width.min(low.len());
    bytes[..n].copy_from_slice(&low[..n]);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_little_endian_in_the_width() {
        assert_eq!(parse_bytes("1", 4), Ok(vec![1, 0, 0, 0]));
        assert_eq!(parse_bytes(" 0x10 ", 4), Ok(vec![0x10, 0, 0, 0]));
        assert_eq!(parse_bytes("0X0", 4), Ok(vec![0; 4]));
        assert_eq!(parse_bytes("-1", 4), Ok(vec![0xff; 4]));
        assert_eq!(parse_bytes("-2", 2), Ok(vec![0xfe, 0xff]));
        assert_eq!(parse_bytes("-0x80", 1), Ok(vec![0x80]));
        assert_eq!(parse_bytes("255", 1), Ok(vec![0xff]));
        assert_eq!(parse_bytes("4294967295", 4), Ok(vec![0xff; 4]));
        assert_eq!(parse_number("42", 40).unwrap()[..2], [42, 0]);
        assert_eq!(parse_number("42", 40).unwrap().len(), 40);
        let mut minus_one = vec![0xff; 20];
        assert_eq!(parse_number("-1", 20), Ok(minus_one.clone()));
        minus_one[0] = 0xfe;
        assert_eq!(parse_number("-2", 20), Ok(minus_one));
        let mut big = vec![0u8; 17];
        big[..16].copy_from_slice(&[0xff; 16]);
        assert_eq!(
            parse_number("340282366920938463463374607431768211455", 17),
            Ok(big)
        );
        let mut min = vec![0xff; 17];
        min[..16].copy_from_slice(&(i128::MIN).to_le_bytes());
        assert_eq!(
            parse_number("-170141183460469231731687303715884105728", 17),
            Ok(min)
        );
    }

    #[test]
    fn numbers_must_fit() {
        assert_eq!(parse_bytes("256", 1), Err(BytesProblem::DoesNotFit));
        assert_eq!(parse_bytes("-129", 1), Err(BytesProblem::DoesNotFit));
        assert_eq!(parse_bytes("4294967296", 4), Err(BytesProblem::DoesNotFit));
        assert_eq!(parse_bytes("0x100000000", 4), Err(BytesProblem::DoesNotFit));
        assert_eq!(
            parse_number("340282366920938463463374607431768211456", 64),
            Err(BytesProblem::DoesNotFit)
        );
        assert_eq!(
            parse_number("-170141183460469231731687303715884105729", 64),
            Err(BytesProblem::DoesNotFit)
        );
        assert_eq!(parse_number("1", 0), Err(BytesProblem::DoesNotFit));
        assert_eq!(
            BytesProblem::DoesNotFit.describe(1, "value_size"),
            "does not fit in the map's value_size of 1 byte (from -128 to 255)"
        );
        assert_eq!(parse_number("-0", 20), Ok(vec![0; 20]));
    }

    #[test]
    fn hex_bytes_as_json_and_the_table_print_them() {
        assert_eq!(parse_bytes("01000000", 4), Ok(vec![1, 0, 0, 0]));
        assert_eq!(parse_bytes("40 00 00 00", 4), Ok(vec![0x40, 0, 0, 0]));
        assert_eq!(parse_bytes("aB cD", 2), Ok(vec![0xab, 0xcd]));
        // Exactly twice the width in digits is bytes, even if all decimal.
        assert_eq!(parse_bytes("10", 1), Ok(vec![0x10]));
        assert_eq!(parse_bytes("10000000", 4), Ok(vec![0x10, 0, 0, 0]));
        assert_eq!(parse_bytes("40 00", 4), Err(BytesProblem::ByteCount(2)));
        // Hex bytes of the wrong count are not read as a decimal number.
        assert_eq!(parse_bytes("01", 8), Err(BytesProblem::ByteCount(1)));
        assert_eq!(parse_bytes("0102", 8), Err(BytesProblem::ByteCount(2)));
        assert_eq!(parse_bytes("012", 8), Err(BytesProblem::LeadingZero));
        assert_eq!(parse_number("01", 8), Err(BytesProblem::LeadingZero));
        assert_eq!(parse_bytes("0", 8), Ok(vec![0; 8]));
        assert_eq!(parse_bytes("0x01", 8), Ok(vec![1, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(parse_bytes("0a0b", 8), Err(BytesProblem::ByteCount(2)));
        assert_eq!(parse_bytes("40 0", 4), Err(BytesProblem::Unreadable));
    }

    #[test]
    fn junk_is_named() {
        assert_eq!(parse_bytes("", 4), Err(BytesProblem::Empty));
        assert_eq!(parse_bytes("  ", 4), Err(BytesProblem::Empty));
        assert_eq!(parse_bytes("zz", 4), Err(BytesProblem::Unreadable));
        assert_eq!(parse_bytes("0x", 4), Err(BytesProblem::Unreadable));
        assert_eq!(parse_bytes("-", 4), Err(BytesProblem::Unreadable));
        assert_eq!(parse_bytes("0x1g", 4), Err(BytesProblem::Unreadable));
        assert_eq!(parse_bytes("1.5", 4), Err(BytesProblem::NotWhole));
        assert_eq!(parse_number("1e3", 4), Err(BytesProblem::NotWhole));
        assert_eq!(parse_bytes("é", 4), Err(BytesProblem::Unreadable));
        assert_eq!(parse_bytes("abc", 4), Err(BytesProblem::Unreadable));
    }

    fn object(file: &str) -> Object {
        Object::open(format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn nothing_is_set_unless_every_entry_is_good() {
        let object = object("multi_maps.o");
        // A good entry in one map, then a bad one in another: parsing fails
        // and the good one is not set either.
        let err = MapsIn::parse(r#"{"counters": {"0": 7}, "shorts": {"1": 70000}}"#, &object)
            .unwrap_err();
        assert!(matches!(err, MapsInError::BadValue { .. }), "{err}");
        assert_eq!(object.map("counters").unwrap().get_at::<u64>(0).unwrap(), 0);
        let presets =
            MapsIn::parse(r#"{"counters": {"0": 7}, "shorts": {"1": -1}}"#, &object).unwrap();
        assert_eq!(presets.len(), 2);
        assert_eq!(object.map("counters").unwrap().get_at::<u64>(0).unwrap(), 0);
        presets.apply().unwrap();
        assert_eq!(object.map("counters").unwrap().get_at::<u64>(0).unwrap(), 7);
        assert_eq!(
            object.map("shorts").unwrap().get_at::<u16>(1).unwrap(),
            0xffff
        );
    }

    #[test]
    fn every_kind_of_mistake_is_a_typed_error() {
        let object = object("globals_data.o");
        let parse = |text: &str| MapsIn::parse(text, &object).unwrap_err();
        assert!(matches!(parse("{"), MapsInError::Syntax(_)));
        assert_eq!(
            parse(r#"{".data": {}, ".data": {}}"#),
            MapsInError::DuplicateMap {
                map: ".data".to_owned()
            }
        );
        assert!(matches!(
            parse(r#"{"nope": {}}"#),
            MapsInError::NoSuchMap { available, .. } if available == ".data, .rodata, .bss"
        ));
        assert!(matches!(
            parse(r#"{".rodata": {}}"#),
            MapsInError::Frozen { .. }
        ));
        assert!(matches!(
            parse(r#"{".data": {"x": 1}}"#),
            MapsInError::BadKey { key_size: 4, .. }
        ));
        assert!(matches!(
            parse(r#"{".data": {"1": 1}}"#),
            MapsInError::KeyOutOfRange {
                index: 1,
                max_entries: 1,
                ..
            }
        ));
        assert_eq!(
            parse(r#"{".data": {"0": 1, "00000000": 2}}"#),
            MapsInError::DuplicateKey {
                map: ".data".to_owned(),
                first: "0".to_owned(),
                second: "00000000".to_owned(),
                index: Some(0),
            }
        );
        assert!(matches!(
            parse(r#"{".data": {"0": 1.5}}"#),
            MapsInError::BadValue { value_size: 16, .. }
        ));
        // An empty document, or an empty map object, sets nothing.
        assert!(MapsIn::parse("{}", &object).unwrap().is_empty());
        assert!(
            MapsIn::parse(r#"{".bss": {}}"#, &object)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn examples_in_messages() {
        assert_eq!(example_bytes(4, 1), "\"01 00 00 00\"");
        assert_eq!(example_bytes(24, 42), "\"2a 00 00 00 00 00 00 00 ...\"");
    }
}
