//! The table `tinybpf run` prints for each map, written line by line to any
//! [`io::Write`] while the entries are read: a map of any size is never held
//! as one string.
//!
//! - One line per entry: the key (its index) right-aligned, then the value's
//!   bytes in hex, in memory order. A value of 1, 2, 4 or 8 bytes is also
//!   shown as the unsigned little-endian integer it holds.
//! - A value longer than 16 bytes takes 16 bytes a line, each line starting
//!   with its byte offset in hex (as `xxd` does); two or more all-zero lines
//!   in a row collapse into one `010..3df: all zero (976 bytes)` line.
//! - Two or more all-zero entries in a row collapse into one line,
//!   `5..4095  all zero (4091 entries)`; with
//!   [`TableOptions::nonzero_only`] they are left out instead.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::object::Map;

/// What [`write_map_table`] shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Leave out all-zero entries (rather than collapsing their runs); a map
    /// with nothing left says so in one line.
    pub nonzero_only: bool,
}

/// Value bytes shown per line.
const BYTES_PER_LINE: usize = 16;

/// Writes `map`'s entries as a table (see the module documentation).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/xdp_counter.o");
/// let object = tinybpf::Object::open(path)?;
/// object.map("outcome")?.set(3, &1000u64)?;
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
    let def = map.def();
    write_table(
        out,
        def.max_entries,
        def.value_size as usize,
        map.array().entries(),
        options,
    )
}

/// A run of all-zero entries not yet written.
#[derive(Clone, Copy)]
struct ZeroRun {
    first: u32,
    last: u32,
    count: u64,
}

/// The table of `entries` (index order) of a map with `max_entries` entries
/// of `value_size` bytes.
fn write_table<W: Write + ?Sized>(
    out: &mut W,
    max_entries: u32,
    value_size: usize,
    entries: impl IntoIterator<Item = (u32, Vec<u8>)>,
    options: TableOptions,
) -> io::Result<()> {
    let mut table = Table::new(max_entries, value_size, options);
    table.header(out)?;
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
            table.zero_run(out, run)?;
        }
        table.entry(out, index, &value)?;
        shown += 1;
    }
    if let Some(run) = zero_run.take() {
        table.zero_run(out, run)?;
    }
    if options.nonzero_only && shown == 0 {
        writeln!(out, "(all {max_entries} entries are zero)")?;
    }
    Ok(())
}

/// The column widths of one map's table, and a line buffer reused for every line.
struct Table {
    /// Width of the key column (room for `first..last` when runs can collapse).
    key_width: usize,
    value_size: usize,
    /// Hex digits of a line's byte offset (values longer than one line).
    offset_width: usize,
    line: String,
}

impl Table {
    fn new(max_entries: u32, value_size: usize, options: TableOptions) -> Table {
        let last_digits = max_entries.saturating_sub(1).to_string().len();
        let mut key_width = last_digits.max("key".len());
        if !options.nonzero_only && max_entries >= 2 {
            key_width = key_width.max(2 * last_digits + "..".len());
        }
        let last_line_offset = value_size.saturating_sub(1) / BYTES_PER_LINE * BYTES_PER_LINE;
        let offset_width = format!("{last_line_offset:x}").len().max(2);
        Table {
            key_width,
            value_size,
            offset_width,
            line: String::new(),
        }
    }

    /// Width of the value column when values fit on one line.
    fn value_column_width(&self) -> usize {
        (3 * self.value_size).saturating_sub(1).max("value".len())
    }

    /// Whether values also show as an integer (`as u8` .. `as u64`).
    fn integer_bits(&self) -> Option<usize> {
        matches!(self.value_size, 1 | 2 | 4 | 8).then_some(self.value_size * 8)
    }

    fn flush_line<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        self.line.push('\n');
        out.write_all(self.line.as_bytes())?;
        self.line.clear();
        Ok(())
    }

    fn header<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        let _ = write!(
            self.line,
            "{:>width$}  value",
            "key",
            width = self.key_width
        );
        if let Some(bits) = self.integer_bits() {
            let pad = self.value_column_width() - "value".len();
            let _ = write!(self.line, "{:pad$}  as u{bits}", "");
        }
        self.flush_line(out)
    }

    fn zero_run<W: Write + ?Sized>(&mut self, out: &mut W, run: ZeroRun) -> io::Result<()> {
        if run.count == 1 {
            return self.entry(out, run.first, &vec![0; self.value_size]);
        }
        let label = format!("{}..{}", run.first, run.last);
        let _ = write!(
            self.line,
            "{label:>width$}  all zero ({} entries)",
            run.count,
            width = self.key_width
        );
        self.flush_line(out)
    }

    fn entry<W: Write + ?Sized>(
        &mut self,
        out: &mut W,
        index: u32,
        value: &[u8],
    ) -> io::Result<()> {
        let _ = write!(self.line, "{index:>width$}  ", width = self.key_width);
        if value.len() <= BYTES_PER_LINE {
            push_hex(&mut self.line, value);
            if let Some(integer) = self.integer_bits().and(le_integer(value)) {
                let pad = self.value_column_width() - (3 * value.len()).saturating_sub(1);
                let _ = write!(self.line, "{:pad$}  {integer}", "");
            }
            return self.flush_line(out);
        }
        let lines: Vec<&[u8]> = value.chunks(BYTES_PER_LINE).collect();
        let mut at = 0;
        while at < lines.len() {
            if at > 0 {
                let _ = write!(self.line, "{:width$}  ", "", width = self.key_width);
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
