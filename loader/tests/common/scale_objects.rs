//! Generated BPF objects in the shapes that once made opening, linking or
//! loading slow or hungry, at any scale: many `.text` functions in call
//! chains and many programs sharing them, one program of many
//! one-instruction blocks over a fully known stack, one program of many
//! constant-key lookups, and a map declared near the 4 GiB limit.
//!
//! Standard library only, so that every user can include it with
//! `#[path = ...] mod scale_objects;`: the loader's scale test
//! (`loader/tests/scale.rs`), the load-time bench (`benches/load_scale.rs`)
//! and the fuzz seed writer (`fuzz/examples/seed_corpus.rs`), which seeds
//! the `loader` corpus with [`shapes`] at 1x, 4x and 16x.
#![allow(dead_code)]

/// Functions per call chain in [`functions_and_programs`].
pub const CHAIN: usize = 4;
/// Instructions per `.text` function: a call (or `r0 = 0`), `r0 = 1`, `exit`.
pub const FUNCTION_LEN: usize = 3;
/// Instructions per program of [`functions_and_programs`]: a call, `exit`.
pub const PROGRAM_LEN: usize = 2;
/// Instructions before the blocks of [`one_insn_blocks`]: 64 `stdw`.
pub const FRAME_STORES: usize = 64;
/// Instructions per lookup of [`lookups`].
pub const LOOKUP_LEN: usize = 8;

/// `SHT_PROGBITS`, `SHT_SYMTAB`, `SHT_STRTAB`, `SHT_REL`.
const PROGBITS: u32 = 1;
const SYMTAB: u32 = 2;
const STRTAB: u32 = 3;
const REL: u32 = 9;
/// `R_BPF_64_64` (an `lddw`) and `R_BPF_64_32` (a local call).
const R_BPF_64_64: u64 = 1;
const R_BPF_64_32: u64 = 10;
/// `STB_GLOBAL` with `STT_FUNC` or `STT_OBJECT`.
const GLOBAL_FUNC: u8 = 0x12;
const GLOBAL_OBJECT: u8 = 0x11;

/// One 8-byte instruction.
pub fn insn(opcode: u8, regs: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0] = opcode;
    out[1] = regs;
    out[2..4].copy_from_slice(&off.to_le_bytes());
    out[4..8].copy_from_slice(&imm.to_le_bytes());
    out
}

/// A section to be written.
struct Section {
    name: u32,
    sh_type: u32,
    flags: u64,
    link: u32,
    info: u32,
    entsize: u64,
    data: Vec<u8>,
}

/// A relocatable BPF ELF under construction: section 1 is `.strtab`,
/// section 2 `.symtab`, the sections added follow from 3 on.
pub struct ElfBuilder {
    strtab: Vec<u8>,
    symtab: Vec<u8>,
    sections: Vec<Section>,
}

impl Default for ElfBuilder {
    fn default() -> Self {
        ElfBuilder::new()
    }
}

impl ElfBuilder {
    /// An object with no section and only the null symbol.
    pub fn new() -> ElfBuilder {
        let mut builder = ElfBuilder {
            strtab: vec![0],
            symtab: vec![0; 24],
            sections: Vec::new(),
        };
        for name in [".strtab", ".symtab"] {
            let name = builder.name(name);
            builder.sections.push(Section {
                name,
                sh_type: 0,
                flags: 0,
                link: 0,
                info: 0,
                entsize: 0,
                data: Vec::new(),
            });
        }
        builder
    }

    fn name(&mut self, name: &str) -> u32 {
        let at = self.strtab.len() as u32;
        self.strtab.extend_from_slice(name.as_bytes());
        self.strtab.push(0);
        at
    }

    fn add(&mut self, name: &str, sh_type: u32, flags: u64, info: u32, data: Vec<u8>) -> u16 {
        let name = self.name(name);
        let (link, entsize) = if sh_type == REL { (2, 16) } else { (0, 0) };
        self.sections.push(Section {
            name,
            sh_type,
            flags,
            link,
            info,
            entsize,
            data,
        });
        self.sections.len() as u16
    }

    /// A code section (`ALLOC | EXECINSTR`); returns its index.
    pub fn code(&mut self, name: &str, code: Vec<u8>) -> u16 {
        self.add(name, PROGBITS, 0x6, 0, code)
    }

    /// A `SEC("maps")` of legacy map definitions (20 bytes each: type, key
    /// size, value size, max entries, flags); returns its index.
    pub fn maps(&mut self, defs: &[[u32; 5]]) -> u16 {
        let data = defs
            .iter()
            .flat_map(|def| def.iter().flat_map(|field| field.to_le_bytes()))
            .collect();
        self.add("maps", PROGBITS, 0x3, 0, data)
    }

    /// A global function (`object` false) or object symbol; returns its index.
    pub fn symbol(&mut self, name: &str, object: bool, section: u16, value: u64, size: u64) -> u64 {
        let name = self.name(name);
        self.symtab.extend_from_slice(&name.to_le_bytes());
        self.symtab
            .push(if object { GLOBAL_OBJECT } else { GLOBAL_FUNC });
        self.symtab.push(0);
        self.symtab.extend_from_slice(&section.to_le_bytes());
        self.symtab.extend_from_slice(&value.to_le_bytes());
        self.symtab.extend_from_slice(&size.to_le_bytes());
        (self.symtab.len() / 24 - 1) as u64
    }

    /// The relocations of section `target` (named `.rel<name>`): for each
    /// `(instruction index, symbol, is_call)`, a local call's or an
    /// `lddw`'s relocation.
    pub fn relocations(&mut self, target: u16, relocs: &[(usize, u64, bool)]) {
        let mut data = Vec::with_capacity(relocs.len() * 16);
        for &(at, symbol, is_call) in relocs {
            let kind = if is_call { R_BPF_64_32 } else { R_BPF_64_64 };
            data.extend(((at * 8) as u64).to_le_bytes());
            data.extend(((symbol << 32) | kind).to_le_bytes());
        }
        let target_name = self.sections[usize::from(target) - 1].name as usize;
        let end = self.strtab[target_name..]
            .iter()
            .position(|&b| b == 0)
            .map_or(self.strtab.len(), |n| target_name + n);
        let name = format!(
            ".rel{}",
            String::from_utf8_lossy(&self.strtab[target_name..end])
        );
        self.add(&name, REL, 0x40, u32::from(target), data);
    }

    /// The object file.
    pub fn finish(mut self) -> Vec<u8> {
        self.sections[0].sh_type = STRTAB;
        self.sections[0].data = std::mem::take(&mut self.strtab);
        self.sections[1].sh_type = SYMTAB;
        self.sections[1].link = 1;
        self.sections[1].info = 1;
        self.sections[1].entsize = 24;
        self.sections[1].data = std::mem::take(&mut self.symtab);
        let mut out = vec![0u8; 64];
        let mut offsets = Vec::new();
        for section in &self.sections {
            out.resize(out.len().next_multiple_of(8), 0);
            offsets.push(out.len() as u64);
            out.extend_from_slice(&section.data);
        }
        out.resize(out.len().next_multiple_of(8), 0);
        let shoff = out.len() as u64;
        out.extend([0u8; 64]); // the null section
        for (section, offset) in self.sections.iter().zip(offsets) {
            out.extend(section.name.to_le_bytes());
            out.extend(section.sh_type.to_le_bytes());
            out.extend(section.flags.to_le_bytes());
            out.extend(0u64.to_le_bytes()); // sh_addr
            out.extend(offset.to_le_bytes());
            out.extend((section.data.len() as u64).to_le_bytes());
            out.extend(section.link.to_le_bytes());
            out.extend(section.info.to_le_bytes());
            out.extend(8u64.to_le_bytes()); // sh_addralign
            out.extend(section.entsize.to_le_bytes());
        }
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // little-endian
        out[6] = 1; // EV_CURRENT
        out[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
        out[18..20].copy_from_slice(&247u16.to_le_bytes()); // EM_BPF
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[40..48].copy_from_slice(&shoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        out[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        let shnum = self.sections.len() as u16 + 1;
        out[60..62].copy_from_slice(&shnum.to_le_bytes());
        out[62..64].copy_from_slice(&1u16.to_le_bytes()); // e_shstrndx
        out
    }
}

/// `functions` `.text` functions in chains of [`CHAIN`] (each calls the
/// next) and `programs` programs in section `socket`, program `p` (named
/// `p{p}`) calling the head of chain `p % chains`.
pub fn functions_and_programs(functions: usize, programs: usize) -> Vec<u8> {
    let chains = (functions / CHAIN).max(1);
    let mut elf = ElfBuilder::new();
    let mut text = Vec::with_capacity(functions * FUNCTION_LEN * 8);
    let mut text_relocs = Vec::new();
    // Sections first (their indices), symbols next, relocations last.
    for f in 0..functions {
        if (f + 1) % CHAIN != 0 && f + 1 < functions {
            text.extend(insn(0x85, 0x10, 0, -1));
        } else {
            text.extend(insn(0xb7, 0, 0, 0));
        }
        text.extend(insn(0xb7, 0, 0, 1));
        text.extend(insn(0x95, 0, 0, 0));
    }
    let mut socket = Vec::with_capacity(programs * PROGRAM_LEN * 8);
    for _ in 0..programs {
        socket.extend(insn(0x85, 0x10, 0, -1));
        socket.extend(insn(0x95, 0, 0, 0));
    }
    let text_index = elf.code(".text", text);
    let socket_index = elf.code("socket", socket);
    let mut function_symbols = Vec::with_capacity(functions);
    for f in 0..functions {
        let value = (f * FUNCTION_LEN * 8) as u64;
        let size = (FUNCTION_LEN * 8) as u64;
        function_symbols.push(elf.symbol(&format!("f{f}"), false, text_index, value, size));
    }
    let mut socket_relocs = Vec::with_capacity(programs);
    for p in 0..programs {
        let value = (p * PROGRAM_LEN * 8) as u64;
        elf.symbol(
            &format!("p{p}"),
            false,
            socket_index,
            value,
            (PROGRAM_LEN * 8) as u64,
        );
        if functions > 0 {
            let head = (p % chains * CHAIN).min(functions - 1);
            socket_relocs.push((p * PROGRAM_LEN, function_symbols[head], true));
        }
    }
    for f in 0..functions {
        if (f + 1) % CHAIN != 0 && f + 1 < functions {
            text_relocs.push((f * FUNCTION_LEN, function_symbols[f + 1], true));
        }
    }
    elf.relocations(text_index, &text_relocs);
    elf.relocations(socket_index, &socket_relocs);
    elf.finish()
}

/// One program `blocks` (section `socket`): 512 known stack bytes (64
/// `stdw`), then `blocks` one-instruction blocks (`ja +0`), then `r0 = 0;
/// exit`. The lookup analysis keeps a state per block.
pub fn one_insn_blocks(blocks: usize) -> Vec<u8> {
    let mut code = Vec::with_capacity((FRAME_STORES + blocks + 2) * 8);
    for k in 1..=FRAME_STORES {
        code.extend(insn(0x7a, 10, -(8 * k as i16), k as i32)); // stdw [r10-8k], k
    }
    for _ in 0..blocks {
        code.extend(insn(0x05, 0, 0, 0)); // ja +0
    }
    code.extend(insn(0xb7, 0, 0, 0));
    code.extend(insn(0x95, 0, 0, 0));
    let mut elf = ElfBuilder::new();
    let socket = elf.code("socket", code.clone());
    elf.symbol("blocks", false, socket, 0, code.len() as u64);
    elf.finish()
}

/// One program `lookups` (section `socket`) of `count` constant-key lookups
/// in the array map `values` (8-byte values, 64 entries), each with its
/// NULL test and a load ([`LOOKUP_LEN`] instructions: the rewrite makes
/// each a constant address); the keys cycle through 0..64.
pub fn lookups(count: usize) -> Vec<u8> {
    let mut code = Vec::with_capacity((count * LOOKUP_LEN + 2) * 8);
    let mut relocs = Vec::with_capacity(count);
    for i in 0..count {
        code.extend(insn(0x62, 10, -4, (i % 64) as i32)); // stw [r10-4], key
        code.extend(insn(0xbf, 0xa2, 0, 0)); // r2 = r10
        code.extend(insn(0x07, 2, 0, -4)); // r2 += -4
        relocs.push((code.len() / 8, 0, false));
        code.extend(insn(0x18, 0x11, 0, 0)); // r1 = map ll
        code.extend(insn(0, 0, 0, 0));
        code.extend(insn(0x85, 0, 0, 1)); // call map_lookup_elem
        code.extend(insn(0x15, 0, 1, 0)); // if r0 == 0 goto +1
        code.extend(insn(0x79, 0x03, 0, 0)); // r3 = *(u64 *)(r0 + 0)
    }
    code.extend(insn(0xb7, 0, 0, 0));
    code.extend(insn(0x95, 0, 0, 0));
    let mut elf = ElfBuilder::new();
    let socket = elf.code("socket", code.clone());
    let maps = elf.maps(&[[2, 4, 8, 64, 0]]);
    let map = elf.symbol("values", true, maps, 0, 20);
    elf.symbol("lookups", false, socket, 0, code.len() as u64);
    let relocs: Vec<_> = relocs
        .into_iter()
        .map(|(at, _, call)| (at, map, call))
        .collect();
    elf.relocations(socket, &relocs);
    elf.finish()
}

/// An array map `big` of `entries` 1 MiB values (4,095 entries: just under
/// 4 GiB, which costs nothing until touched) and a program `touch` that
/// writes 1 to the first byte of entry `entries - 1`.
pub fn huge_map(entries: u32) -> Vec<u8> {
    let mut code = Vec::new();
    code.extend(insn(0x62, 10, -4, entries.saturating_sub(1) as i32)); // stw [r10-4], key
    code.extend(insn(0xbf, 0xa2, 0, 0));
    code.extend(insn(0x07, 2, 0, -4));
    code.extend(insn(0x18, 0x11, 0, 0)); // r1 = map ll
    code.extend(insn(0, 0, 0, 0));
    code.extend(insn(0x85, 0, 0, 1));
    code.extend(insn(0x15, 0, 1, 0)); // if r0 == 0 goto +1
    code.extend(insn(0x72, 0, 0, 1)); // *(u8 *)(r0 + 0) = 1
    code.extend(insn(0xb7, 0, 0, 0));
    code.extend(insn(0x95, 0, 0, 0));
    let mut elf = ElfBuilder::new();
    let socket = elf.code("socket", code.clone());
    let maps = elf.maps(&[[2, 4, 1 << 20, entries, 0]]);
    let map = elf.symbol("big", true, maps, 0, 20);
    elf.symbol("touch", false, socket, 0, code.len() as u64);
    elf.relocations(socket, &[(3, map, false)]);
    elf.finish()
}

/// The shapes at `scale`, named for a corpus file (the fuzz seeds): at 1x,
/// 1,250 `.text` functions and 300 programs (a quarter of the scale test's
/// 1x, so that the `loader` target, which loads, lists and runs every
/// program twice, stays well inside the resource mode's time limit at 16x
/// under AddressSanitizer), 4,000 one-instruction blocks, 500 lookups, and
/// a map of 255 MiB.
pub fn shapes(scale: usize) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            format!("functions-{scale}x.o"),
            functions_and_programs(1_250 * scale, 300 * scale),
        ),
        (format!("blocks-{scale}x.o"), one_insn_blocks(4_000 * scale)),
        (format!("lookups-{scale}x.o"), lookups(500 * scale)),
        (format!("huge-map-{scale}x.o"), huge_map(255 * scale as u32)),
    ]
}
