//! A stable, human-readable table of a map's entries.

use core::fmt::Write;

use crate::array::ArrayMap;

/// What [`ArrayMap::dump`] shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpOptions {
    /// Show only entries with at least one non-zero byte.
    pub nonzero_only: bool,
}

/// Value bytes shown per line; longer values continue on following lines.
const BYTES_PER_LINE: usize = 16;

impl ArrayMap {
    /// The map's entries as a table: a header line, then one line per entry
    /// with the index right-aligned and the `value_size` bytes in hex, 16 per
    /// line (longer values continue on indented lines). With
    /// `nonzero_only`, all-zero entries are left out, and a map with none
    /// left says so. The format is stable (tests snapshot it).
    ///
    /// ```
    /// use tinybpf_maps::{ArrayMap, BPF_ANY, DumpOptions, MapDef};
    /// let map = ArrayMap::new(MapDef::array(4, 3)).unwrap();
    /// map.update(&1u32.to_le_bytes(), &[1, 0, 0, 0xff], BPF_ANY).unwrap();
    /// assert_eq!(map.dump(DumpOptions::default()), "key  value\n  0  00 00 00 00\n  1  01 00 00 ff\n  2  00 00 00 00\n");
    /// assert_eq!(map.dump(DumpOptions { nonzero_only: true }), "key  value\n  1  01 00 00 ff\n");
    /// ```
    pub fn dump(&self, opts: DumpOptions) -> String {
        let last_index = self.def().max_entries.saturating_sub(1);
        let width = last_index.to_string().len().max("key".len());
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{:>width$}  value", "key");
        let mut shown = 0usize;
        for (index, value) in self.entries() {
            if opts.nonzero_only && value.iter().all(|&b| b == 0) {
                continue;
            }
            shown += 1;
            for (line, chunk) in value.chunks(BYTES_PER_LINE).enumerate() {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                if line == 0 {
                    let _ = writeln!(out, "{index:>width$}  {}", hex.join(" "));
                } else {
                    let _ = writeln!(out, "{:>width$}  {}", "", hex.join(" "));
                }
            }
        }
        if opts.nonzero_only && shown == 0 {
            let _ = writeln!(out, "(all {} entries are zero)", self.def().max_entries);
        }
        out
    }
}
