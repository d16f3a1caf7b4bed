//! The trace `bpf_trace_printk` leaves, recorded at call time and formatted
//! when it is read.
//!
//! A call records what its line needs: the format's bytes, the three
//! arguments, and the bytes of each `%s` string as program memory held them
//! at the call (or the fault that ended the string). It also works out the
//! line's length, which the helper returns and charges to the budget, without
//! building the line. The text is formatted only when the trace is read
//! ([`Trace::lines`], [`RunContext::take_trace`](crate::RunContext::take_trace)),
//! after the run and outside any timed loop, with exactly the formatting
//! the call would have produced.
//!
//! A trace holds at most [`Trace::limit`] bytes (by default
//! [`DEFAULT_TRACE_LIMIT`]): each line costs the larger of its text (plus
//! its newline) and its record. Lines past the limit are counted, not kept,
//! and reading the trace ends with one marker line that says how many were
//! left out. The program sees no difference: the helper returns the same
//! length and charges the same units either way.

use std::fmt::{self, Write as _};

use crate::error::HelperError;
use crate::exec::helpers::HelperContext;

/// The bytes of trace a [`Trace`] keeps unless told otherwise (4 MiB).
pub const DEFAULT_TRACE_LIMIT: usize = 4 << 20;

/// Longest format string `trace_printk` reads, and longest `%s` string it
/// prints.
const MAX_TRACE_FORMAT: usize = 1024;

/// Record tags.
const PRINTK: u8 = 0;
const LITERAL: u8 = 1;

/// The high bit of a `%s` string's recorded length: the string ended at an
/// address the program may not read (printed `(efault)`).
const EFAULT: u32 = 1 << 31;

/// `-EINVAL` as a helper's return value.
const EINVAL: u64 = (-22i64) as u64;

/// The `bpf_trace_printk` lines of one run (or of several, until cleared):
/// records formatted when read, and a count of the lines left out past the
/// limit.
///
/// ```
/// use tinybpf_vm::{LoadedProgram, ProgramOptions, RunContext, isa::asm::assemble_bytes};
/// // bpf_trace_printk("n=%d\n", 6, 7): the format sits on the stack
/// let code = assemble_bytes(
///     "mov %r1, 0x64253d6e\nstxw [%r10-8], %r1\nmov %r1, 0x0a\nstxh [%r10-4], %r1\n\
///      mov %r1, %r10\nadd %r1, -8\nmov %r2, 6\nmov %r3, 7\ncall 6\nexit",
/// ).unwrap();
/// let program = LoadedProgram::load(&code, ProgramOptions::default()).unwrap();
/// let mut ctx = RunContext::new().with_trace_limit(64);
/// for _ in 0..100 {
///     program.run_with(&mut [], &mut ctx).unwrap();
/// }
/// assert_eq!(ctx.trace.total_lines(), 100);
/// let lines = ctx.take_trace();
/// assert_eq!(lines[0], "n=7");
/// assert!(lines.last().unwrap().starts_with("[trace truncated:"));
/// assert!(lines.len() < 100);
/// ```
#[derive(Debug, Clone)]
pub struct Trace {
    /// The kept lines' records, back to back.
    records: Vec<u8>,
    /// Lines kept.
    kept: usize,
    /// Lines left out past the limit.
    dropped: u64,
    /// Bytes of the limit the kept lines use.
    used: usize,
    /// Most bytes the kept lines may use.
    limit: usize,
}

impl Default for Trace {
    fn default() -> Trace {
        Trace::with_limit(DEFAULT_TRACE_LIMIT)
    }
}

impl Trace {
    /// An empty trace that keeps at most `limit` bytes of lines.
    pub fn with_limit(limit: usize) -> Trace {
        Trace {
            records: Vec::new(),
            kept: 0,
            dropped: 0,
            used: 0,
            limit,
        }
    }

    /// The most bytes of lines it keeps.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the limit; lines already kept stay.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Bytes of the limit the kept lines use.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Lines kept (what [`Trace::lines`] gives, before the marker line).
    pub fn len(&self) -> usize {
        self.kept
    }

    /// Whether no line was printed (kept or left out).
    pub fn is_empty(&self) -> bool {
        self.kept == 0 && self.dropped == 0
    }

    /// Lines left out past the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Every line printed: kept or left out.
    pub fn total_lines(&self) -> u64 {
        self.kept as u64 + self.dropped
    }

    /// Forgets every line, keeping the memory for the next ones.
    pub fn clear(&mut self) {
        self.records.clear();
        self.kept = 0;
        self.dropped = 0;
        self.used = 0;
    }

    /// Appends a line as it is (what [`HelperContext::trace`] does).
    pub fn push_line(&mut self, line: &str) {
        let mark = self.records.len();
        self.records.push(LITERAL);
        push_u32(&mut self.records, line.len() as u32);
        self.records.extend_from_slice(line.as_bytes());
        self.finish(mark, line.len());
    }

    /// Keeps the record written from `mark` on (whose text is `text_len`
    /// bytes without its newline) if it fits the limit; else removes it
    /// and counts the line as left out.
    fn finish(&mut self, mark: usize, text_len: usize) {
        let cost = (self.records.len() - mark).max(text_len + 1);
        match self.used.checked_add(cost) {
            Some(used) if used <= self.limit => {
                self.used = used;
                self.kept += 1;
            }
            _ => {
                self.records.truncate(mark);
                self.dropped += 1;
            }
        }
    }

    /// The lines, formatted now, oldest first; when lines were left out, a
    /// last line says how many.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let mut reader = Reader {
            bytes: &self.records,
            at: 0,
        };
        let marker = (self.dropped > 0).then(|| {
            format!(
                "[trace truncated: {} more line{} not kept, past the trace limit of {} bytes]",
                self.dropped,
                if self.dropped == 1 { "" } else { "s" },
                self.limit
            )
        });
        std::iter::from_fn(move || reader.next_line()).chain(marker)
    }
}

/// Reads records back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> &'a [u8] {
        let end = (self.at + len).min(self.bytes.len());
        let part = &self.bytes[self.at..end];
        self.at = end;
        part
    }

    fn u32(&mut self) -> u32 {
        let mut word = [0u8; 4];
        let part = self.take(4);
        word[..part.len()].copy_from_slice(part);
        u32::from_le_bytes(word)
    }

    fn u64(&mut self) -> u64 {
        let mut word = [0u8; 8];
        let part = self.take(8);
        word[..part.len()].copy_from_slice(part);
        u64::from_le_bytes(word)
    }

    fn next_line(&mut self) -> Option<String> {
        let tag = *self.bytes.get(self.at)?;
        self.at += 1;
        let len = self.u32() as usize;
        let mut line = String::new();
        if tag == LITERAL {
            line.push_str(&String::from_utf8_lossy(self.take(len)));
            return Some(line);
        }
        let fmt = self.take(len);
        let args = [self.u64(), self.u64(), self.u64()];
        // Recorded only when the format was valid: this cannot fail.
        let _ = render(fmt, args, &mut line, &mut |out: &mut String, _addr| {
            let len = self.u32();
            for &byte in self.take((len & !EFAULT) as usize) {
                out.push(char::from(byte));
            }
            if len & EFAULT != 0 {
                out.push_str("(efault)");
            }
            Ok(())
        });
        if line.ends_with('\n') {
            line.pop();
        }
        Some(line)
    }
}

fn push_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Counts the bytes written, as UTF-8 (the line's length as returned).
struct Count(usize);

impl fmt::Write for Count {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Why a format cannot be printed.
struct BadFormat;

/// Walks a `trace_printk` format as the kernel prints it (`%d %i %u %x %X`
/// with `l`/`ll`, `%p`, `%c`, `%s`, `%%`), writing into `out`; `%s` writes
/// through `string` (given its address). `Err` for a bad format.
fn render<W: fmt::Write>(
    fmt: &[u8],
    args: [u64; 3],
    out: &mut W,
    string: &mut dyn FnMut(&mut W, u64) -> Result<(), BadFormat>,
) -> Result<(), BadFormat> {
    let mut next_arg = args.into_iter();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            let _ = out.write_char(char::from(c));
            continue;
        }
        if fmt.get(i) == Some(&b'%') {
            let _ = out.write_char('%');
            i += 1;
            continue;
        }
        let mut longs = 0;
        while fmt.get(i) == Some(&b'l') && longs < 2 {
            longs += 1;
            i += 1;
        }
        let &conv = fmt.get(i).ok_or(BadFormat)?;
        i += 1;
        let arg = next_arg.next().ok_or(BadFormat)?;
        let narrow = longs == 0;
        let _ = match conv {
            b'd' | b'i' if narrow => write!(out, "{}", arg as u32 as i32),
            b'd' | b'i' => write!(out, "{}", arg as i64),
            b'u' if narrow => write!(out, "{}", arg as u32),
            b'u' => write!(out, "{arg}"),
            b'x' if narrow => write!(out, "{:x}", arg as u32),
            b'x' => write!(out, "{arg:x}"),
            b'X' if narrow => write!(out, "{:X}", arg as u32),
            b'X' => write!(out, "{arg:X}"),
            b'p' if narrow => write!(out, "0x{arg:x}"),
            b'c' if narrow => out.write_char(char::from(arg as u8)),
            b's' if narrow => {
                string(out, arg)?;
                Ok(())
            }
            _ => return Err(BadFormat),
        };
    }
    Ok(())
}

/// Budget units for copying or formatting `bytes` bytes: one per 8, rounded up.
fn units_for(bytes: usize) -> u64 {
    bytes.div_ceil(8) as u64
}

/// What [`read_string`] appended to the trace's records.
struct StringRead {
    /// Bytes of the string (before its NUL or the fault), at most
    /// `MAX_TRACE_FORMAT`.
    len: usize,
    /// How many of them are 0x80 or above (two bytes each once printed as
    /// UTF-8).
    high_bytes: usize,
    /// The string ran into memory the program may not read.
    efault: bool,
}

/// First chunk [`read_string`] reads; each later one doubles, up to
/// `MAX_STRING_CHUNK`, so the bytes read past the NUL never exceed the
/// string's own length plus the first chunk.
const FIRST_STRING_CHUNK: usize = 8;
/// Largest chunk [`read_string`] reads at once.
const MAX_STRING_CHUNK: usize = 256;

/// Appends the NUL-terminated string at `addr` (at most `MAX_TRACE_FORMAT`
/// bytes) to the trace's records, as reading it byte by byte would: up to
/// its NUL, or up to the first byte the program may not read (`efault`).
///
/// It reads in growing chunks through the same region checks. A chunk never
/// crosses a 4 GiB slot, and a region is one contiguous range inside its
/// slot, so the readable bytes from any address form a prefix of the chunk:
/// when a chunk fails, halving it until one byte fails finds exactly the
/// byte where the byte-by-byte reading would have stopped.
fn read_string(ctx: &mut HelperContext<'_>, addr: u64) -> StringRead {
    let mut read = StringRead {
        len: 0,
        high_bytes: 0,
        efault: false,
    };
    let mut chunk = [0u8; MAX_STRING_CHUNK];
    let mut size = FIRST_STRING_CHUNK;
    let mut faulted = false;
    while read.len < MAX_TRACE_FORMAT {
        let at = addr.wrapping_add(read.len as u64);
        let to_slot_end = (1u64 << 32) - (at & 0xffff_ffff);
        let want = size
            .min(MAX_TRACE_FORMAT - read.len)
            .min(usize::try_from(to_slot_end).unwrap_or(usize::MAX));
        let bytes = &mut chunk[..want];
        if ctx.read(at, bytes).is_err() {
            if want == 1 {
                read.efault = true;
                break;
            }
            // The readable part is a prefix: look for its end.
            size = want / 2;
            faulted = true;
            continue;
        }
        let (end, high_bytes) = scan_string(bytes);
        let string = &bytes[..end.unwrap_or(want)];
        read.high_bytes += high_bytes;
        read.len += string.len();
        ctx.trace_mut().records.extend_from_slice(string);
        if end.is_some() {
            break;
        }
        if !faulted {
            size = (size * 2).min(MAX_STRING_CHUNK);
        }
    }
    read
}

/// The position of the first NUL in `bytes` (if any) and how many bytes
/// before it are 0x80 or above, eight bytes at a time.
fn scan_string(bytes: &[u8]) -> (Option<usize>, usize) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut high = 0;
    let mut words = bytes.chunks_exact(8);
    for (index, word) in words.by_ref().enumerate() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight);
        // The lowest set bit marks the first zero byte (bits above it may
        // be false positives, never bits below).
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            let at = (zero.trailing_zeros() / 8) as usize;
            let before = word[..at].iter().filter(|&&b| b >= 0x80).count();
            return (Some(index * 8 + at), high + before);
        }
        high += (x & HIGHS).count_ones() as usize;
    }
    let done = bytes.len() - words.remainder().len();
    for (offset, &byte) in words.remainder().iter().enumerate() {
        if byte == 0 {
            return (Some(done + offset), high);
        }
        high += usize::from(byte >= 0x80);
    }
    (None, high)
}

/// `bpf_trace_printk(fmt, fmt_size, a1, a2, a3)`: formats like the kernel
/// (see [`render`]; an unreadable `%s` prints `(efault)`), records the line
/// and returns its length; a bad format gives -EINVAL. Charges one unit per
/// 8 bytes of the format, then per 8 bytes of the line.
pub(crate) fn trace_printk(
    ctx: &mut HelperContext<'_>,
    args: [u64; 5],
) -> Result<u64, HelperError> {
    let size = args[1];
    if size == 0 || size > MAX_TRACE_FORMAT as u64 {
        return Ok(EINVAL);
    }
    let size = size as usize;
    ctx.charge(units_for(size))?;
    let mut fmt = [0u8; MAX_TRACE_FORMAT];
    let fmt = &mut fmt[..size];
    ctx.read(args[0], fmt)?;
    let Some(nul) = fmt.iter().position(|&b| b == 0) else {
        return Ok(EINVAL);
    };
    let fmt = &fmt[..nul];
    let values = [args[2], args[3], args[4]];

    let mark = ctx.trace_mut().records.len();
    {
        let records = &mut ctx.trace_mut().records;
        records.push(PRINTK);
        push_u32(records, fmt.len() as u32);
        records.extend_from_slice(fmt);
        for value in values {
            records.extend_from_slice(&value.to_le_bytes());
        }
    }
    let mut count = Count(0);
    let rendered = render(fmt, values, &mut count, &mut |count, addr| {
        // The string's bytes as memory holds them now, into the record.
        let at = ctx.trace_mut().records.len();
        push_u32(&mut ctx.trace_mut().records, 0);
        let string = read_string(ctx, addr);
        let len = string.len as u32 | if string.efault { EFAULT } else { 0 };
        count.0 += string.len + string.high_bytes;
        if string.efault {
            let _ = count.write_str("(efault)");
        }
        ctx.trace_mut().records[at..at + 4].copy_from_slice(&len.to_le_bytes());
        Ok(())
    });
    let line_len = count.0;
    let charged = match rendered {
        Ok(()) => ctx.charge(units_for(line_len)),
        Err(BadFormat) => {
            ctx.trace_mut().records.truncate(mark);
            return Ok(EINVAL);
        }
    };
    if let Err(exhausted) = charged {
        ctx.trace_mut().records.truncate(mark);
        return Err(exhausted);
    }
    ctx.trace_mut().finish(mark, line_len);
    Ok(line_len as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fmt: &str, args: [u64; 3]) -> Option<String> {
        let mut out = String::new();
        render(
            fmt.as_bytes(),
            args,
            &mut out,
            &mut |out: &mut String, _| {
                out.push_str("STR");
                Ok(())
            },
        )
        .ok()?;
        Some(out)
    }

    #[test]
    fn conversions_print_as_the_kernel_prints_them() {
        assert_eq!(line("%d %i", [u64::MAX, 5, 0]).unwrap(), "-1 5");
        assert_eq!(line("%ld", [u64::MAX, 0, 0]).unwrap(), "-1");
        assert_eq!(
            line("%u %lu", [u64::MAX, u64::MAX, 0]).unwrap(),
            "4294967295 18446744073709551615"
        );
        assert_eq!(
            line("%x %X %llx", [0xabcd, 0xabcd, 1 << 40]).unwrap(),
            "abcd ABCD 10000000000"
        );
        assert_eq!(line("%p %c%%", [0x10, 0x41, 0]).unwrap(), "0x10 A%");
        assert_eq!(line("[%s]", [0, 0, 0]).unwrap(), "[STR]");
        assert!(line("%d %d %d %d", [0; 3]).is_none(), "a fourth argument");
        assert!(line("%q", [0; 3]).is_none());
        assert!(line("%ls", [0; 3]).is_none());
        assert!(line("%", [0; 3]).is_none());
    }

    #[test]
    fn scanning_eight_bytes_at_a_time_agrees_with_a_byte_loop() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..40 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        [0u8, 1, 0x7f, 0x80, 0x81, 0xff, b'a'][(state % 7) as usize]
                    })
                    .collect();
                let end = bytes.iter().position(|&b| b == 0);
                let high = bytes[..end.unwrap_or(len)]
                    .iter()
                    .filter(|&&b| b >= 0x80)
                    .count();
                assert_eq!(scan_string(&bytes), (end, high), "{bytes:?}");
            }
        }
    }

    #[test]
    fn lines_past_the_limit_are_counted_and_marked() {
        let mut trace = Trace::with_limit(10);
        trace.push_line("abcd");
        trace.push_line("efgh"); // 5 + 9 bytes of record > 10
        assert_eq!(
            (trace.len(), trace.dropped(), trace.total_lines()),
            (1, 1, 2)
        );
        let lines: Vec<String> = trace.lines().collect();
        assert_eq!(lines[0], "abcd");
        assert_eq!(
            lines[1],
            "[trace truncated: 1 more line not kept, past the trace limit of 10 bytes]"
        );
        trace.clear();
        assert!(trace.is_empty());
        assert_eq!(trace.lines().count(), 0);
    }
}
