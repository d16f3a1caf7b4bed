//! The table `tinybpf run` prints for each map, written line by line to any
//! [`io::Write`] while the entries are read: an array of any size is never
//! held as one string.
//!
//! - One line per entry: the key, then the value's bytes in hex, in memory
//!   order. A value of 1, 2, 4 or 8 bytes is also shown as the unsigned
//!   little-endian integer it holds.
//! - Arrays (`array`, `percpu_array`) show every index, right-aligned; two
//!   or more all-zero entries in a row collapse into one line,
//!   `5..4095  all zero (4091 entries)`; with [`TableOptions::nonzero_only`]
//!   they are left out instead.
//! - Maps whose entries may be missing show every entry present, zero or
//!   not (`nonzero_only` is about arrays' untouched entries): the slot
//!   maps (`prog_array`, `perf_event_array`, `devmap`, `cpumap`, `xskmap`)
//!   by index, the others (`hash`, `lru_hash`, the per-CPU hashes,
//!   `lpm_trie`, `devmap_hash`) with the key's bytes in hex (and, for a key
//!   of 1, 2, 4 or 8 bytes, its little-endian integer), sorted by key: by
//!   that integer, else by the bytes. Sorting reads their entries first (at
//!   most `max_entries`).
//! - Per-CPU maps show one line per CPU under each key (`cpu` column); two
//!   or more all-zero CPUs in a row collapse into `2..7  all zero (6 CPUs)`.
//! - A value longer than 16 bytes takes 16 bytes a line, each line starting
//!   with its byte offset in hex (as `xxd` does); two or more all-zero lines
//!   in a row collapse into one `010..3df: all zero (976 bytes)` line.
//! - A ring buffer has no entries to list; the table says so.

use std::fmt::Write as _;
use std::io::{self, Write};

use tinybpf_maps::MapType;

use crate::map::Map;
use crate::typed::TypedView;

/// What [`write_map_table`] shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Leave out all-zero entries (rather than collapsing their runs); a map
    /// with nothing left says so in one line.
    pub nonzero_only: bool,
}

/// Value bytes shown per line.
const BYTES_PER_LINE: usize = 16;

/// How a map type's entries are keyed and listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Every index from 0 to `max_entries - 1` holds a value.
    Dense,
    /// Indexes, some of them empty.
    Slots,
    /// Arbitrary keys, listed sorted; `integer_key` when the key is a
    /// little-endian integer.
    Keyed { integer_key: bool },
    /// No entries (ring buffers).
    Empty,
}

fn layout(map_type: MapType, key_size: u32) -> Layout {
    match map_type {
        MapType::Array | MapType::PercpuArray => Layout::Dense,
        MapType::ProgArray
        | MapType::PerfEventArray
        | MapType::Devmap
        | MapType::Cpumap
        | MapType::Xskmap => Layout::Slots,
        MapType::Ringbuf => Layout::Empty,
        MapType::LpmTrie => Layout::Keyed { integer_key: false },
        _ => Layout::Keyed {
            integer_key: matches!(key_size, 1 | 2 | 4 | 8),
        },
    }
}

/// Writes `map`'s entries as a table (see the module documentation).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/xdp_counter.o");
/// let object = tinybpf::Object::open(path)?;
/// object.map("outcome")?.set_at(3, &1000u64)?;
/// let mut out = Vec::new();
/// tinybpf::write_map_table(&mut out, object.map("outcome")?, Default::default())?;
/// assert_eq!(
///     String::from_utf8(out)?,
///     " key  value                    as u64\n\
///      0..2  all zero (3 entries)\n   \
///         3  e8 03 00 00 00 00 00 00  1000\n"
/// );
/// # Ok(())
/// # }
/// ```
pub fn write_map_table<W: Write + ?Sized>(
    out: &mut W,
    map: &Map,
    options: TableOptions,
) -> io::Result<()> {
    write_typed_map_table(out, map, options, None)
}

/// [`write_map_table`], with keys and values shown by their BTF types
/// where `typed` says they read better so (structs by member, arrays as
/// lists, signed numbers, enums by name), in place of their bytes.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/btf_maps.o");
/// let object = tinybpf::Object::open(path)?;
/// let pairs = object.map("pairs")?;
/// pairs.set_bytes_at(1, &[3, 0, 0, 0, 192, 0, 0, 0])?;
/// let typed = tinybpf::TypedView::of(&object, pairs);
/// let mut out = Vec::new();
/// tinybpf::write_typed_map_table(&mut out, pairs, Default::default(), typed.as_ref())?;
/// assert_eq!(
///     String::from_utf8(out)?,
///     " key  value\n   \
///         0  {packets: 0, bytes: 0}\n   \
///         1  {packets: 3, bytes: 192}\n\
///      2..3  all zero (2 entries)\n"
/// );
/// # Ok(())
/// # }
/// ```
pub fn write_typed_map_table<W: Write + ?Sized>(
    out: &mut W,
    map: &Map,
    options: TableOptions,
    typed: Option<&TypedView<'_>>,
) -> io::Result<()> {
    let def = map.def();
    let value_size = def.value_size as usize;
    let cpus = map
        .map_type()
        .is_percpu()
        .then(|| map.possible_cpus() as usize);
    match layout(map.map_type(), def.key_size) {
        Layout::Dense => {
            let entries = map.entries().map(|(key, value)| (index_of(&key), value));
            match cpus {
                None => {
                    let mut table = Table::new(def.max_entries, value_size, options);
                    table.typed = typed;
                    table.write_dense(out, def.max_entries, entries, options)
                }
                Some(cpus) => {
                    let mut table = Table::new(def.max_entries, value_size, options);
                    table.typed = typed;
                    table.cpus = Some(cpus);
                    table.write_dense(out, def.max_entries, entries, options)
                }
            }
        }
        Layout::Slots => {
            let entries: Vec<(String, Vec<u8>)> = map
                .entries()
                .map(|(key, value)| (index_of(&key).to_string(), value))
                .collect();
            let listed = TableOptions { nonzero_only: true };
            let mut table = Table::new(def.max_entries, value_size, listed);
            table.typed = typed;
            table.write_listed(out, "key", &entries, options, def.max_entries)
        }
        Layout::Keyed { integer_key } => {
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = map.entries().collect();
            if integer_key {
                entries.sort_by_key(|(key, _)| le_integer(key));
            } else {
                entries.sort();
            }
            let formatted_keys = typed.filter(|t| t.formats_keys());
            let integer_key = integer_key && formatted_keys.is_none();
            let labelled = match formatted_keys {
                Some(view) => entries
                    .into_iter()
                    .map(|(key, value)| {
                        let label = view.key(&key, false).map(|k| k.to_string());
                        let label = label.unwrap_or_else(|| {
                            let mut hex = String::new();
                            push_hex(&mut hex, &key);
                            hex
                        });
                        (label, value)
                    })
                    .collect(),
                None => key_labels(entries, integer_key),
            };
            let mut table = Table::new(1, value_size, TableOptions { nonzero_only: true });
            table.typed = typed;
            table.cpus = cpus;
            table.key_left = true;
            let title = key_title(def.key_size as usize, integer_key, &labelled);
            let widest = labelled.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            table.key_width = title.len().max(widest);
            table.write_listed(out, &title, &labelled, options, def.max_entries)
        }
        Layout::Empty => writeln!(
            out,
            "(a ring buffer of {} bytes: records are consumed, not listed)",
            def.max_entries
        ),
    }
}

/// The index a 4-byte array key holds (0 for another length, which no
/// index-keyed map has).
fn index_of(key: &[u8]) -> u32 {
    key.try_into().map(u32::from_le_bytes).unwrap_or(0)
}

/// The width of the `cpu` column for `cpus` CPUs.
fn cpu_width(cpus: usize) -> usize {
    let last = cpus.saturating_sub(1);
    (2 * last.to_string().len() + "..".len()).max("cpu".len())
}

/// Each key as its label: hex bytes, then (integer keys) the integer
/// right-aligned in a column as wide as the largest.
fn key_labels(entries: Vec<(Vec<u8>, Vec<u8>)>, integer_key: bool) -> Vec<(String, Vec<u8>)> {
    let int_width = entries
        .iter()
        .filter_map(|(key, _)| le_integer(key))
        .map(|n| n.to_string().len())
        .max()
        .unwrap_or(0)
        .max(6);
    entries
        .into_iter()
        .map(|(key, value)| {
            let mut label = String::new();
            push_hex(&mut label, &key);
            if integer_key && let Some(n) = le_integer(&key) {
                let _ = write!(label, "  {n:>int_width$}");
            }
            (label, value)
        })
        .collect()
}

/// The key column's title: `key`, and `as uN` over the integers.
fn key_title(key_size: usize, integer_key: bool, labels: &[(String, Vec<u8>)]) -> String {
    let hex_width = (3 * key_size).saturating_sub(1);
    if !integer_key {
        return format!("{:<hex_width$}", "key");
    }
    let label_width = labels.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let int_title = format!("as u{}", key_size * 8);
    let int_width = label_width
        .saturating_sub(hex_width + 2)
        .max(int_title.len());
    format!("{:<hex_width$}  {int_title:>int_width$}", "key")
}

/// A run of all-zero entries not yet written.
#[derive(Clone, Copy)]
struct ZeroRun {
    first: u32,
    last: u32,
    count: u64,
}

/// The table of `entries` (index order) of an array with `max_entries`
/// entries of `value_size` bytes.
#[cfg(test)]
fn write_table<W: Write + ?Sized>(
    out: &mut W,
    max_entries: u32,
    value_size: usize,
    entries: impl IntoIterator<Item = (u32, Vec<u8>)>,
    options: TableOptions,
) -> io::Result<()> {
    let mut table = Table::new(max_entries, value_size, options);
    table.write_dense(out, max_entries, entries, options)
}

/// The column widths of one map's table, and a line buffer reused for every line.
struct Table<'t> {
    /// Values shown by their BTF types, where that reads better.
    typed: Option<&'t TypedView<'t>>,
    /// Width of the key column (room for `first..last` when runs can collapse).
    key_width: usize,
    /// Keys are written left-aligned (hex keys) rather than right-aligned (indexes).
    key_left: bool,
    /// The CPUs of a per-CPU map (one line each under a key).
    cpus: Option<usize>,
    value_size: usize,
    /// Hex digits of a line's byte offset (values longer than one line).
    offset_width: usize,
    line: String,
}

impl<'t> Table<'t> {
    fn new(max_entries: u32, value_size: usize, options: TableOptions) -> Table<'t> {
        let last_digits = max_entries.saturating_sub(1).to_string().len();
        let mut key_width = last_digits.max("key".len());
        if !options.nonzero_only && max_entries >= 2 {
            key_width = key_width.max(2 * last_digits + "..".len());
        }
        let last_line_offset = value_size.saturating_sub(1) / BYTES_PER_LINE * BYTES_PER_LINE;
        let offset_width = format!("{last_line_offset:x}").len().max(2);
        Table {
            typed: None,
            key_width,
            key_left: false,
            cpus: None,
            value_size,
            offset_width,
            line: String::new(),
        }
    }

    /// Writes an array's entries (every index, in order), collapsing or
    /// leaving out runs of all-zero entries.
    fn write_dense<W: Write + ?Sized>(
        &mut self,
        out: &mut W,
        max_entries: u32,
        entries: impl IntoIterator<Item = (u32, Vec<u8>)>,
        options: TableOptions,
    ) -> io::Result<()> {
        self.header(out, "key")?;
        let mut zero_run: Option<ZeroRun> = None;
        let mut shown = 0u64;
        for (index, value) in entries {
            if value.iter().all(|&b| b == 0) {
                if options.nonzero_only {
                    continue;
                }
                zero_run = Some(match zero_run {
                    Some(run) => ZeroRun {
                        last: index,
                        count: run.count + 1,
                        ..run
                    },
                    None => ZeroRun {
                        first: index,
                        last: index,
                        count: 1,
                    },
                });
                continue;
            }
            if let Some(run) = zero_run.take() {
                self.zero_run(out, run)?;
            }
            self.entry(out, &index.to_string(), &value, options)?;
            shown += 1;
        }
        if let Some(run) = zero_run.take() {
            self.zero_run(out, run)?;
        }
        if options.nonzero_only && shown == 0 {
            writeln!(out, "(all {max_entries} entries are zero)")?;
        }
        Ok(())
    }

    /// Writes the entries present in a map whose keys may be missing, each
    /// labelled. Every entry present is shown, whatever its value (a
    /// program array's 0 names program 0); with `nonzero_only`, a per-CPU
    /// entry leaves out its all-zero CPUs.
    fn write_listed<W: Write + ?Sized>(
        &mut self,
        out: &mut W,
        title: &str,
        entries: &[(String, Vec<u8>)],
        options: TableOptions,
        max_entries: u32,
    ) -> io::Result<()> {
        self.header(out, title)?;
        for (label, value) in entries {
            self.entry(out, label, value, options)?;
        }
        if entries.is_empty() {
            writeln!(out, "(no entries; room for {max_entries})")?;
        }
        Ok(())
    }

    /// Width of the value column when values fit on one line.
    fn value_column_width(&self) -> usize {
        (3 * self.value_size).saturating_sub(1).max("value".len())
    }

    /// Whether values also show as an integer (`as u8` .. `as u64`).
    fn integer_bits(&self) -> Option<usize> {
        if self.formats_values() {
            return None;
        }
        matches!(self.value_size, 1 | 2 | 4 | 8).then_some(self.value_size * 8)
    }

    /// Whether values show by their BTF types.
    fn formats_values(&self) -> bool {
        self.typed.is_some_and(TypedView::formats_values)
    }

    /// Width of the `cpu` column of a per-CPU map.
    fn cpu_width(&self) -> Option<usize> {
        self.cpus.map(cpu_width)
    }

    /// Where values start on a line: after the key and `cpu` columns.
    fn value_indent(&self) -> usize {
        self.key_width + 2 + self.cpu_width().map_or(0, |w| w + 2)
    }

    fn flush_line<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        self.line.push('\n');
        out.write_all(self.line.as_bytes())?;
        self.line.clear();
        Ok(())
    }

    fn push_key(&mut self, label: &str) {
        if self.key_left {
            let _ = write!(self.line, "{label:<width$}  ", width = self.key_width);
        } else {
            let _ = write!(self.line, "{label:>width$}  ", width = self.key_width);
        }
    }

    fn header<W: Write + ?Sized>(&mut self, out: &mut W, title: &str) -> io::Result<()> {
        self.push_key(title);
        if let Some(width) = self.cpu_width() {
            let _ = write!(self.line, "{:>width$}  ", "cpu");
        }
        self.line.push_str("value");
        if let Some(bits) = self.integer_bits() {
            let pad = self.value_column_width() - "value".len();
            let _ = write!(self.line, "{:pad$}  as u{bits}", "");
        }
        self.flush_line(out)
    }

    fn zero_run<W: Write + ?Sized>(&mut self, out: &mut W, run: ZeroRun) -> io::Result<()> {
        if run.count == 1 {
            let len = match self.cpus {
                Some(cpus) => self.value_size.next_multiple_of(8) * cpus,
                None => self.value_size,
            };
            let zero = vec![0; len];
            return self.entry(out, &run.first.to_string(), &zero, TableOptions::default());
        }
        let label = format!("{}..{}", run.first, run.last);
        self.push_key(&label);
        let _ = write!(self.line, "all zero ({} entries)", run.count);
        self.flush_line(out)
    }

    /// One entry: its key label, then its value (one line per CPU for a
    /// per-CPU map, whose `value` is the user-space format).
    fn entry<W: Write + ?Sized>(
        &mut self,
        out: &mut W,
        label: &str,
        value: &[u8],
        options: TableOptions,
    ) -> io::Result<()> {
        let Some(cpu_width) = self.cpu_width() else {
            self.push_key(label);
            return self.value(out, value);
        };
        let elem = self.value_size.next_multiple_of(8).max(1);
        let cpus: Vec<&[u8]> = value
            .chunks(elem)
            .map(|chunk| &chunk[..self.value_size.min(chunk.len())])
            .collect();
        let mut first_line = true;
        let mut cpu = 0;
        while cpu < cpus.len() {
            let zeros = cpus[cpu..]
                .iter()
                .take_while(|v| v.iter().all(|&b| b == 0))
                .count();
            if zeros > 0 && options.nonzero_only {
                cpu += zeros;
                continue;
            }
            self.push_key(if first_line { label } else { "" });
            first_line = false;
            if zeros >= 2 {
                let cpu_label = format!("{cpu}..{}", cpu + zeros - 1);
                let _ = write!(
                    self.line,
                    "{cpu_label:>cpu_width$}  all zero ({zeros} CPUs)"
                );
                self.flush_line(out)?;
                cpu += zeros;
                continue;
            }
            let _ = write!(self.line, "{cpu:>cpu_width$}  ");
            self.value(out, cpus[cpu])?;
            cpu += 1;
        }
        Ok(())
    }

    /// A value after the key (and cpu) columns already in the line.
    fn value<W: Write + ?Sized>(&mut self, out: &mut W, value: &[u8]) -> io::Result<()> {
        if self.formats_values()
            && let Some(shown) = self.typed.and_then(|t| t.value(value, false))
        {
            let _ = write!(self.line, "{shown}");
            return self.flush_line(out);
        }
        if value.len() <= BYTES_PER_LINE {
            push_hex(&mut self.line, value);
            if let Some(integer) = self.integer_bits().and(le_integer(value)) {
                let pad = self.value_column_width() - (3 * value.len()).saturating_sub(1);
                let _ = write!(self.line, "{:pad$}  {integer}", "");
            }
            return self.flush_line(out);
        }
        let lines: Vec<&[u8]> = value.chunks(BYTES_PER_LINE).collect();
        let indent = self.value_indent();
        let mut at = 0;
        while at < lines.len() {
            if at > 0 {
                let _ = write!(self.line, "{:indent$}", "");
            }
            let offset = at * BYTES_PER_LINE;
            let zero_lines = lines[at..]
                .iter()
                .take_while(|line| line.iter().all(|&b| b == 0))
                .count();
            if zero_lines >= 2 {
                let end = offset + zero_lines * BYTES_PER_LINE;
                let end = end.min(value.len());
                let _ = write!(
                    self.line,
                    "{offset:0width$x}..{:0width$x}: all zero ({} bytes)",
                    end - 1,
                    end - offset,
                    width = self.offset_width
                );
                at += zero_lines;
            } else {
                let _ = write!(self.line, "{offset:0width$x}: ", width = self.offset_width);
                push_hex(&mut self.line, lines[at]);
                at += 1;
            }
            self.flush_line(out)?;
        }
        Ok(())
    }
}

/// Appends `bytes` as two-digit hex numbers separated by spaces.
fn push_hex(line: &mut String, bytes: &[u8]) {
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        let _ = write!(line, "{byte:02x}");
    }
}

/// The unsigned little-endian integer of up to 8 bytes.
fn le_integer(bytes: &[u8]) -> Option<u64> {
    (bytes.len() <= 8).then(|| {
        bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of a map with `max_entries` entries of `value_size` bytes,
    /// all zero except `set`.
    fn table(
        max_entries: u32,
        value_size: usize,
        set: &[(u32, Vec<u8>)],
        nonzero_only: bool,
    ) -> String {
        let entries = (0..max_entries).map(|index| {
            let value = set
                .iter()
                .find(|(at, _)| *at == index)
                .map_or_else(|| vec![0; value_size], |(_, v)| v.clone());
            (index, value)
        });
        let mut out = Vec::new();
        write_table(
            &mut out,
            max_entries,
            value_size,
            entries,
            TableOptions { nonzero_only },
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn u64_le(n: u64) -> Vec<u8> {
        n.to_le_bytes().to_vec()
    }

    #[test]
    fn runs_of_zero_entries_collapse_into_one_line() {
        let text = table(4096, 8, &[(3, u64_le(7)), (4, u64_le(1 << 40))], false);
        assert_eq!(
            text,
            "       key  value                    as u64\n\
             \x20     0..2  all zero (3 entries)\n\
             \x20        3  07 00 00 00 00 00 00 00  7\n\
             \x20        4  00 00 00 00 00 01 00 00  1099511627776\n\
             \x20  5..4095  all zero (4091 entries)\n"
        );
        // A single zero entry between two others is shown as it is.
        let text = table(3, 2, &[(0, vec![1, 0]), (2, vec![0xff, 0xff])], false);
        assert_eq!(
            text,
            " key  value  as u16\n   0  01 00  1\n   1  00 00  0\n   2  ff ff  65535\n"
        );
        // One-byte values: the integer column still lines up under its title.
        let text = table(2, 1, &[(1, vec![0xff])], false);
        assert_eq!(
            text,
            " key  value  as u8\n   0  00     0\n   1  ff     255\n"
        );
    }

    #[test]
    fn nonzero_only_leaves_zero_entries_out() {
        let text = table(4096, 8, &[(4000, u64_le(2))], true);
        assert_eq!(
            text,
            " key  value                    as u64\n4000  02 00 00 00 00 00 00 00  2\n"
        );
        assert_eq!(
            table(4, 3, &[], true),
            "key  value\n(all 4 entries are zero)\n"
        );
    }

    #[test]
    fn long_values_show_offsets_and_collapse_zero_lines() {
        let mut value = vec![0u8; 1024];
        value[0] = 1;
        value[1000] = 3;
        let text = table(2, 1024, &[(1, value)], false);
        let expected = [
            " key  value",
            "   0  000..3ff: all zero (1024 bytes)",
            "   1  000: 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "      010..3df: all zero (976 bytes)",
            "      3e0: 00 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00",
            "      3f0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        ];
        assert_eq!(text, expected.map(|line| format!("{line}\n")).concat());
        // 40 bytes: offsets of two digits, the short last line as it is.
        let value: Vec<u8> = (1..=40).collect();
        let text = table(1, 40, &[(0, value)], false);
        assert_eq!(
            text,
            "key  value\n  \
             0  00: 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10\n     \
             10: 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20\n     \
             20: 21 22 23 24 25 26 27 28\n"
        );
        // A zero tail shorter than a line still counts its real bytes.
        let mut value = vec![0u8; 40];
        value[0] = 9;
        let text = table(1, 40, &[(0, value)], false);
        assert!(
            text.ends_with("     10..27: all zero (24 bytes)\n"),
            "{text}"
        );
    }

    #[test]
    fn writes_stream_and_stop_at_the_first_error() {
        /// Accepts `room` bytes, then fails like a closed pipe.
        struct Closing {
            room: usize,
        }
        impl Write for Closing {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.room == 0 {
                    return Err(io::Error::from(io::ErrorKind::BrokenPipe));
                }
                let n = buf.len().min(self.room);
                self.room -= n;
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut read = 0u32;
        let entries = (0..u32::MAX).map(|index| {
            read += 1;
            (index, vec![1u8])
        });
        let err = write_table(
            &mut Closing { room: 100 },
            u32::MAX,
            1,
            entries,
            TableOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(read < 100, "stopped reading entries at the error ({read})");
    }
}
