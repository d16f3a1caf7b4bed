//! The `vm` target's input: a few small maps, the input memory and the
//! bytecode, all decoded from the fuzz bytes.
//!
//! Layout (every field is optional: missing bytes read as 0):
//!
//! | bytes | meaning |
//! |---|---|
//! | 1 | bits 0-1: number of maps (0..=3); bit 2: XDP program; bit 3: lookup rewrite off |
//! | 4 per map | `value_size` = 1 + b % 64; `max_entries` = 1 + b % 16; flags (bit 0 `BPF_F_RDONLY_PROG`, bit 1 `BPF_F_WRONLY_PROG`, bit 2 `BPF_F_MMAPABLE`); seed of the initial contents (0: zeros) |
//! | 2 | input length, little-endian, capped at [`MAX_INPUT`] |
//! | that many | the input memory (or XDP packet) |
//! | the rest | the bytecode, as given to `Program::load` |

use tinybpf::maps::{
    ArrayMap, BPF_ANY, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, MapDef,
};
use tinybpf::vm::ProgramKind;

use crate::{Reader, fill_bytes};

/// Longest input memory a case carries.
pub const MAX_INPUT: usize = 1024;

/// Most maps a case creates.
pub const MAX_MAPS: usize = 3;

/// One map of a case: its definition and the seed of its initial contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapSpec {
    /// The definition (always a valid array definition).
    pub def: MapDef,
    /// Seed of the initial value bytes ([`fill_bytes`]); 0 leaves them zero.
    pub fill: u8,
}

impl MapSpec {
    /// Creates the map and writes its initial contents.
    pub fn create(&self) -> ArrayMap {
        let map = ArrayMap::new(self.def).expect("MapSpec holds a valid definition");
        let value_size = self.def.value_size as usize;
        let bytes = fill_bytes(self.fill, value_size * self.def.max_entries as usize);
        if self.fill != 0 {
            for (index, value) in bytes.chunks_exact(value_size).enumerate() {
                let key = u32::try_from(index).expect("max_entries is small");
                map.update(&key.to_le_bytes(), value, BPF_ANY)
                    .expect("updating an existing element of a fresh map");
            }
        }
        map
    }
}

/// A decoded `vm` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmCase {
    /// The maps, in table order.
    pub maps: Vec<MapSpec>,
    /// How the program receives its input.
    pub kind: ProgramKind,
    /// Whether to load with the lookup rewrite.
    pub inline_lookups: bool,
    /// The input memory.
    pub input: Vec<u8>,
    /// The bytecode.
    pub code: Vec<u8>,
}

impl VmCase {
    /// Decodes fuzz bytes (any bytes decode).
    pub fn decode(data: &[u8]) -> VmCase {
        let mut r = Reader::new(data);
        let header = r.u8();
        let count = usize::from(header & 3);
        let maps = (0..count)
            .map(|_| {
                let value_size = 1 + u32::from(r.u8() % 64);
                let max_entries = 1 + u32::from(r.u8() % 16);
                let bits = r.u8();
                let mut flags = 0;
                if bits & 1 != 0 {
                    flags |= BPF_F_RDONLY_PROG;
                } else if bits & 2 != 0 {
                    flags |= BPF_F_WRONLY_PROG;
                }
                if bits & 4 != 0 {
                    flags |= BPF_F_MMAPABLE;
                }
                MapSpec {
                    def: MapDef::array(value_size, max_entries).with_flags(flags),
                    fill: r.u8(),
                }
            })
            .collect();
        let input_len = usize::from(r.u16()).min(MAX_INPUT);
        let input = r.take(input_len).to_vec();
        let code = r.rest().to_vec();
        VmCase {
            maps,
            kind: if header & 4 != 0 {
                ProgramKind::Xdp
            } else {
                ProgramKind::Memory
            },
            inline_lookups: header & 8 == 0,
            input,
            code,
        }
    }

    /// Encodes a case back into fuzz bytes (for the seed corpus); maps past
    /// [`MAX_MAPS`] and input past [`MAX_INPUT`] are dropped.
    pub fn encode(&self) -> Vec<u8> {
        let maps = &self.maps[..self.maps.len().min(MAX_MAPS)];
        let mut header = maps.len() as u8;
        if self.kind == ProgramKind::Xdp {
            header |= 4;
        }
        if !self.inline_lookups {
            header |= 8;
        }
        let mut out = vec![header];
        for map in maps {
            out.push(((map.def.value_size.clamp(1, 64) - 1) % 64) as u8);
            out.push(((map.def.max_entries.clamp(1, 16) - 1) % 16) as u8);
            let mut bits = 0;
            if map.def.map_flags & BPF_F_RDONLY_PROG != 0 {
                bits |= 1;
            } else if map.def.map_flags & BPF_F_WRONLY_PROG != 0 {
                bits |= 2;
            }
            if map.def.map_flags & BPF_F_MMAPABLE != 0 {
                bits |= 4;
            }
            out.push(bits);
            out.push(map.fill);
        }
        let input = &self.input[..self.input.len().min(MAX_INPUT)];
        out.extend_from_slice(&(input.len() as u16).to_le_bytes());
        out.extend_from_slice(input);
        out.extend_from_slice(&self.code);
        out
    }

    /// Creates the case's maps.
    pub fn create_maps(&self) -> Vec<ArrayMap> {
        self.maps.iter().map(MapSpec::create).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_is_identity() {
        let case = VmCase {
            maps: vec![
                MapSpec {
                    def: MapDef::array(8, 4),
                    fill: 0,
                },
                MapSpec {
                    def: MapDef::array(13, 2).with_flags(BPF_F_RDONLY_PROG),
                    fill: 9,
                },
            ],
            kind: ProgramKind::Xdp,
            inline_lookups: false,
            input: vec![1, 2, 3],
            code: vec![0x95, 0, 0, 0, 0, 0, 0, 0],
        };
        assert_eq!(VmCase::decode(&case.encode()), case);
    }

    #[test]
    fn empty_bytes_decode_to_an_empty_case() {
        let case = VmCase::decode(&[]);
        assert!(case.maps.is_empty() && case.input.is_empty() && case.code.is_empty());
    }

    #[test]
    fn initial_contents_are_written() {
        let spec = MapSpec {
            def: MapDef::array(5, 3),
            fill: 3,
        };
        let map = spec.create();
        let expected = fill_bytes(3, 15);
        let got: Vec<u8> = map.entries().flat_map(|(_, v)| v).collect();
        assert_eq!(got, expected);
    }
}
