//! Linking: each program's code with its map and global-variable references
//! resolved, and the `.text` subprograms it calls appended, as libbpf does.
//!
//! Conventions of the linked code (what the VM resolves at load time):
//! - a map reference is `lddw` with `src = 5` (`BPF_PSEUDO_MAP_IDX`) and
//!   `imm` = index into [`Object::maps`](crate::Object::maps);
//! - a global variable is `lddw` with `src = 6` (`BPF_PSEUDO_MAP_IDX_VALUE`),
//!   first `imm` = map index, second `imm` = offset within the value;
//! - a call of a subprogram is `call` with `src = 1` and a pc-relative `imm`
//!   to the subprogram's copy after the program's own code.

use std::collections::HashMap;

use goblin::elf::sym::STT_FUNC;
use tinybpf_vm::ProgramKind;
use tinybpf_vm::isa::insn::{Insn, class, decode_all, jmp, opcode, pseudo};

use crate::elf::{ElfFile, Relocation, SymbolPlace};
use crate::error::LoadError;
use crate::map_defs::MapTable;
use crate::object::{LinkedFunction, ObjectProgram};

/// `R_BPF_64_64`: the 64-bit immediate of an `lddw`.
pub(crate) const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: the 32-bit immediate of a call.
pub(crate) const R_BPF_64_32: u32 = 10;
/// The section of BPF-to-BPF subprograms.
pub(crate) const TEXT_SECTION: &str = ".text";

/// A function symbol: a program, or a `.text` subprogram.
#[derive(Debug)]
struct Function<'a> {
    name: &'a str,
    /// First instruction, as an index in its section.
    start: usize,
    /// Number of instruction slots.
    len: usize,
}

/// An executable section, decoded.
#[derive(Debug)]
struct CodeSection<'a> {
    name: &'a str,
    insns: Vec<Insn>,
    /// Sorted by `start`, non-overlapping.
    functions: Vec<Function<'a>>,
    /// Relocations by instruction index, each checked against its instruction.
    relocations: HashMap<usize, Relocation>,
}

/// Where a function of the program being linked comes from.
#[derive(Debug, Clone, Copy)]
struct FunctionRef {
    /// Index in `Linker::sections`.
    section: usize,
    /// Index in that section's `functions`.
    function: usize,
}

/// Links the programs of one object.
pub(crate) struct Linker<'e, 'a> {
    object: &'e str,
    elf: &'e ElfFile<'a>,
    maps: &'e MapTable,
    sections: Vec<CodeSection<'a>>,
    /// ELF section index of each entry of `sections`.
    elf_indices: Vec<usize>,
    /// Position of `.text` in `sections`.
    text: Option<usize>,
}

impl<'e, 'a> Linker<'e, 'a> {
    /// Decodes every code section, its functions and its relocations.
    pub fn new(
        object: &'e str,
        elf: &'e ElfFile<'a>,
        maps: &'e MapTable,
    ) -> Result<Self, LoadError> {
        let mut linker = Linker {
            object,
            elf,
            maps,
            sections: Vec::new(),
            elf_indices: Vec::new(),
            text: None,
        };
        for section in elf.sections.iter().filter(|s| s.is_code()) {
            let code = decode_all(section.data.unwrap_or_default()).ok_or_else(|| {
                LoadError::CodeSizeNotMultipleOf8 {
                    object: object.to_owned(),
                    section: section.name.to_owned(),
                    size: section.size,
                }
            })?;
            if section.name == TEXT_SECTION {
                if linker.text.is_some() {
                    return Err(LoadError::BadSection {
                        object: object.to_owned(),
                        section: TEXT_SECTION.to_owned(),
                        reason: "defined twice".to_owned(),
                    });
                }
                linker.text = Some(linker.sections.len());
            }
            let functions = linker.functions_of(section.index, section.name, section.size)?;
            let mut code_section = CodeSection {
                name: section.name,
                insns: code,
                functions,
                relocations: HashMap::new(),
            };
            linker.collect_relocations(section.index, &mut code_section)?;
            linker.sections.push(code_section);
            linker.elf_indices.push(section.index);
        }
        Ok(linker)
    }

    fn err_flow(&self, section: &str, insn: usize, reason: String) -> LoadError {
        LoadError::BadControlFlow {
            object: self.object.to_owned(),
            section: section.to_owned(),
            insn,
            reason,
        }
    }

    /// The function symbols of a code section, checked to be whole,
    /// non-empty, non-overlapping runs of instructions inside it.
    fn functions_of(
        &self,
        section_index: usize,
        section_name: &'a str,
        section_size: u64,
    ) -> Result<Vec<Function<'a>>, LoadError> {
        let mut symbols: Vec<_> = self
            .elf
            .symbols
            .iter()
            .filter(|s| s.sym_type == STT_FUNC && s.place == SymbolPlace::Section(section_index))
            .collect();
        symbols.sort_by_key(|s| s.value);
        let mut functions: Vec<Function<'a>> = Vec::with_capacity(symbols.len());
        for sym in symbols {
            let bad = |reason| LoadError::BadFunction {
                object: self.object.to_owned(),
                section: section_name.to_owned(),
                symbol: sym.name.to_owned(),
                offset: sym.value,
                size: sym.size,
                reason,
            };
            let end = sym.value.checked_add(sym.size);
            if end.is_none_or(|end| end > section_size) {
                return Err(LoadError::SymbolOutOfSection {
                    object: self.object.to_owned(),
                    section: section_name.to_owned(),
                    symbol: sym.name.to_owned(),
                    offset: sym.value,
                    size: sym.size,
                    section_size,
                });
            }
            if sym.value % 8 != 0 || sym.size % 8 != 0 {
                return Err(bad("not a whole number of 8-byte instructions"));
            }
            if sym.size == 0 {
                return Err(bad("the function is empty"));
            }
            // Both fit in usize: they are at most the section size, whose bytes are in memory.
            let start = usize::try_from(sym.value / 8).map_err(|_| bad("offset too large"))?;
            let len = usize::try_from(sym.size / 8).map_err(|_| bad("size too large"))?;
            let previous_end = functions.last().map_or(0, |p| p.start + p.len);
            if previous_end > start {
                return Err(bad("overlaps the previous function"));
            }
            functions.push(Function {
                name: sym.name,
                start,
                len,
            });
        }
        Ok(functions)
    }

    /// Files the relocations of `section_index` by instruction and checks that
    /// each applies to an instruction of the right kind.
    fn collect_relocations(
        &self,
        section_index: usize,
        code: &mut CodeSection<'a>,
    ) -> Result<(), LoadError> {
        let tables = self
            .elf
            .relocations
            .iter()
            .filter(|t| t.target == section_index);
        for reloc in tables.flat_map(|t| t.entries.iter()) {
            // The offset was checked to be 8-aligned and inside the section.
            let index = usize::try_from(reloc.offset / 8).unwrap_or(usize::MAX);
            let Some(insn) = code.insns.get(index) else {
                return Err(self.bad_reloc_offset(code, reloc, "beyond the end of the section"));
            };
            let wrong = |r_type_name, expected| LoadError::RelocationOnWrongInstruction {
                object: self.object.to_owned(),
                section: code.name.to_owned(),
                insn: index,
                r_type_name,
                opcode: insn.opcode,
                expected,
            };
            match reloc.r_type {
                R_BPF_64_64 => {
                    if !insn.is_lddw() {
                        return Err(wrong("R_BPF_64_64", "the first slot of an lddw"));
                    }
                    match code.insns.get(index + 1) {
                        None => {
                            return Err(self.bad_reloc_offset(
                                code,
                                reloc,
                                "the lddw's second slot is beyond the end of the section",
                            ));
                        }
                        Some(second) if second.opcode != 0 => {
                            return Err(wrong("R_BPF_64_64", "the first slot of an lddw"));
                        }
                        Some(_) => {}
                    }
                }
                R_BPF_64_32 => {
                    if insn.opcode != opcode::CALL || insn.src != pseudo::CALL_LOCAL {
                        return Err(wrong("R_BPF_64_32", "a local call (call with src 1)"));
                    }
                }
                r_type => {
                    return Err(LoadError::UnsupportedRelocationType {
                        object: self.object.to_owned(),
                        section: code.name.to_owned(),
                        insn: index,
                        r_type,
                    });
                }
            }
            if code.relocations.insert(index, *reloc).is_some() {
                return Err(self.bad_reloc_offset(
                    code,
                    reloc,
                    "a second relocation of one instruction",
                ));
            }
        }
        Ok(())
    }

    fn bad_reloc_offset(
        &self,
        code: &CodeSection<'_>,
        reloc: &Relocation,
        reason: &'static str,
    ) -> LoadError {
        LoadError::BadRelocationOffset {
            object: self.object.to_owned(),
            section: code.name.to_owned(),
            offset: reloc.offset,
            section_size: code.insns.len() as u64 * 8,
            reason,
        }
    }

    /// Links every program: every function of every code section but `.text`.
    pub fn programs(&self) -> Result<Vec<ObjectProgram>, LoadError> {
        let mut programs: Vec<ObjectProgram> = Vec::new();
        for (position, section) in self.sections.iter().enumerate() {
            if Some(position) == self.text {
                continue;
            }
            if section.functions.is_empty() && !section.insns.is_empty() {
                return Err(LoadError::MissingProgramName {
                    object: self.object.to_owned(),
                    section: section.name.to_owned(),
                });
            }
            for (function, f) in section.functions.iter().enumerate() {
                if let Some(first) = programs.iter().find(|p| p.name == f.name) {
                    return Err(LoadError::DuplicateName {
                        object: self.object.to_owned(),
                        what: "program",
                        name: f.name.to_owned(),
                        first: first.section.clone(),
                        second: section.name.to_owned(),
                    });
                }
                let (code, functions) = self.link(FunctionRef {
                    section: position,
                    function,
                })?;
                programs.push(ObjectProgram {
                    object: self.object.to_owned(),
                    functions,
                    name: f.name.to_owned(),
                    section: section.name.to_owned(),
                    kind: if section.name.starts_with("xdp") {
                        ProgramKind::Xdp
                    } else {
                        ProgramKind::Memory
                    },
                    code,
                });
            }
        }
        Ok(programs)
    }

    /// The program starting at `entry`, followed by every `.text` function it
    /// reaches, each call rewritten to the callee's new position.
    fn link(&self, entry: FunctionRef) -> Result<(Vec<Insn>, Vec<LinkedFunction>), LoadError> {
        let mut queue = vec![(entry, 0usize)];
        let mut placed: HashMap<usize, usize> = HashMap::new();
        let mut total = self.function(entry).len;
        if Some(entry.section) == self.text {
            placed.insert(entry.function, 0);
        }
        let mut out = Vec::with_capacity(total);
        let mut layout = Vec::new();
        let mut next = 0;
        while let Some(&(current, base)) = queue.get(next) {
            next += 1;
            let section = &self.sections[current.section];
            let function = self.function(current);
            layout.push(LinkedFunction {
                name: function.name.to_owned(),
                section: section.name.to_owned(),
                section_start: function.start,
                start: base,
                len: function.len,
            });
            let (mut code, calls) = self.relocated_code(current)?;
            for (pos, text_target) in calls {
                let (callee, callee_offset) = self.text_function_at(text_target).ok_or_else(|| {
                    self.err_flow(
                        section.name,
                        self.function(current).start + pos,
                        format!(
                            "the call's target, {TEXT_SECTION} instruction {text_target}, is not inside a function"
                        ),
                    )
                })?;
                let callee_base = match placed.get(&callee) {
                    Some(&b) => b,
                    None => {
                        let b = total;
                        let text = self.text.unwrap_or_default();
                        let callee_ref = FunctionRef {
                            section: text,
                            function: callee,
                        };
                        total += self.function(callee_ref).len;
                        placed.insert(callee, b);
                        queue.push((callee_ref, b));
                        b
                    }
                };
                let from = base + pos + 1;
                let to = callee_base + callee_offset;
                let imm = i64::try_from(to).ok().zip(i64::try_from(from).ok());
                let imm = imm.and_then(|(to, from)| i32::try_from(to - from).ok());
                code[pos].imm = imm.ok_or_else(|| {
                    self.err_flow(
                        section.name,
                        self.function(current).start + pos,
                        "the linked program is too large for a call offset".to_owned(),
                    )
                })?;
            }
            out.extend_from_slice(&code);
        }
        Ok((out, layout))
    }

    fn function(&self, r: FunctionRef) -> &Function<'a> {
        &self.sections[r.section].functions[r.function]
    }

    /// The `.text` function holding instruction `target` of `.text`, and the
    /// target's offset in it.
    fn text_function_at(&self, target: usize) -> Option<(usize, usize)> {
        let text = &self.sections[self.text?];
        let index = text.functions.partition_point(|f| f.start <= target);
        let function = index.checked_sub(1)?;
        let f = &text.functions[function];
        let offset = target - f.start;
        (offset < f.len).then_some((function, offset))
    }

    /// One function's code with its `lddw` relocations applied, and its calls
    /// that leave the function: (position in the function, `.text` instruction).
    #[allow(clippy::type_complexity)]
    fn relocated_code(
        &self,
        r: FunctionRef,
    ) -> Result<(Vec<Insn>, Vec<(usize, usize)>), LoadError> {
        let section = &self.sections[r.section];
        let f = self.function(r);
        let mut code = section.insns[f.start..f.start + f.len].to_vec();
        let in_text = Some(r.section) == self.text;
        let mut calls = Vec::new();
        let mut pos = 0;
        while pos < code.len() {
            let at = f.start + pos;
            let insn = code[pos];
            let reloc = section.relocations.get(&at);
            if insn.is_lddw() {
                if pos + 1 >= code.len() {
                    return Err(self.err_flow(
                        section.name,
                        at,
                        format!("lddw's second slot is past the end of function {}", f.name),
                    ));
                }
                match reloc {
                    Some(reloc) => {
                        self.resolve_lddw(section.name, at, reloc, &mut code[pos..pos + 2])?
                    }
                    None if insn.src != pseudo::IMM64 => {
                        return Err(self.err_flow(
                            section.name,
                            at,
                            format!(
                                "lddw with pseudo source {} has no relocation to say what it refers to",
                                insn.src
                            ),
                        ));
                    }
                    None => {}
                }
                pos += 2;
                continue;
            }
            let class = insn.class();
            let operation = insn.operation();
            if insn.opcode == opcode::CALL && insn.src == pseudo::CALL_LOCAL {
                let target = match reloc {
                    Some(reloc) => self.relocated_call_target(section.name, at, reloc, insn.imm)?,
                    None => {
                        let relative = pos as i64 + 1 + i64::from(insn.imm);
                        if (0..code.len() as i64).contains(&relative) {
                            // Stays inside the function: the offset is still right.
                            pos += 1;
                            continue;
                        }
                        if !in_text {
                            return Err(self.err_flow(
                                section.name,
                                at,
                                format!(
                                    "local call leaves function {} without a relocation",
                                    f.name
                                ),
                            ));
                        }
                        at as i64 + 1 + i64::from(insn.imm)
                    }
                };
                let target = usize::try_from(target).map_err(|_| {
                    self.err_flow(
                        section.name,
                        at,
                        format!("call target {target} is before the start of {TEXT_SECTION}"),
                    )
                })?;
                calls.push((pos, target));
            } else if (class == class::JMP || class == class::JMP32)
                && operation != jmp::CALL
                && operation != jmp::EXIT
            {
                let offset = if insn.opcode == opcode::JA32 {
                    i64::from(insn.imm)
                } else {
                    i64::from(insn.off)
                };
                let target = pos as i64 + 1 + offset;
                if !(0..code.len() as i64).contains(&target) {
                    return Err(self.err_flow(
                        section.name,
                        at,
                        format!(
                            "jump to instruction {} leaves function {}",
                            f.start as i64 + target,
                            f.name
                        ),
                    ));
                }
            }
            pos += 1;
        }
        Ok((code, calls))
    }

    /// The `.text` instruction a relocated call reaches:
    /// `symbol value / 8 + imm + 1`, the symbol being in `.text`.
    fn relocated_call_target(
        &self,
        section: &str,
        at: usize,
        reloc: &Relocation,
        imm: i32,
    ) -> Result<i64, LoadError> {
        let sym = &self.elf.symbols[reloc.symbol];
        let unresolved = |reason: String| LoadError::UnresolvedSymbol {
            object: self.object.to_owned(),
            section: section.to_owned(),
            insn: at,
            symbol: crate::elf::display_symbol(sym.name, reloc.symbol),
            reason,
        };
        let text_index = self.text.map(|t| self.elf_indices[t]);
        match sym.place {
            SymbolPlace::Section(s) if Some(s) == text_index => {}
            SymbolPlace::Undefined => {
                return Err(unresolved(
                    "calls of external functions are not supported".to_owned(),
                ));
            }
            _ => {
                return Err(unresolved(format!(
                    "calls must target {TEXT_SECTION}, this symbol is not in it"
                )));
            }
        }
        if sym.value % 8 != 0 {
            return Err(unresolved(format!(
                "symbol value {} is not on an instruction boundary",
                sym.value
            )));
        }
        let base = i64::try_from(sym.value / 8)
            .map_err(|_| unresolved(format!("symbol value {} is too large", sym.value)))?;
        Ok(base + 1 + i64::from(imm))
    }

    /// Rewrites a relocated `lddw` into a map or map-value reference.
    fn resolve_lddw(
        &self,
        section: &str,
        at: usize,
        reloc: &Relocation,
        slots: &mut [Insn],
    ) -> Result<(), LoadError> {
        let sym = &self.elf.symbols[reloc.symbol];
        let unresolved = |reason: String| LoadError::UnresolvedSymbol {
            object: self.object.to_owned(),
            section: section.to_owned(),
            insn: at,
            symbol: crate::elf::display_symbol(sym.name, reloc.symbol),
            reason,
        };
        // The 64-bit addend clang left in the instruction (0, or the offset in a section).
        let addend =
            (u64::from(slots[0].imm as u32) | (u64::from(slots[1].imm as u32) << 32)) as i64;
        let target = i128::from(sym.value) + i128::from(addend);
        let map_index_imm = |index: usize| {
            i32::try_from(index).map_err(|_| unresolved(format!("map index {index} is too large")))
        };
        match sym.place {
            SymbolPlace::Section(s) if Some(s) == self.maps.maps_section => {
                let map = u64::try_from(target)
                    .ok()
                    .and_then(|offset| self.maps.legacy_by_offset.get(&offset))
                    .ok_or_else(|| {
                        unresolved(format!(
                            "no map definition starts at offset {target} of section maps"
                        ))
                    })?;
                slots[0].src = pseudo::MAP_IDX;
                slots[0].imm = map_index_imm(*map)?;
                slots[1].imm = 0;
            }
            SymbolPlace::Section(s) => {
                let section_name = self.elf.section(s).map(|sec| sec.name).unwrap_or_default();
                let Some(&map) = self.maps.data_by_section.get(&s) else {
                    return Err(unresolved(if section_name == ".maps" {
                        "BTF-defined maps (section .maps) are not supported: \
                         define maps with struct bpf_map_def in SEC(\"maps\")"
                            .to_owned()
                    } else {
                        format!(
                            "it is in section {section_name}, which holds neither maps nor global data"
                        )
                    }));
                };
                let size = self.maps.maps[map].def.value_size;
                let offset = u32::try_from(target)
                    .ok()
                    .filter(|&offset| offset < size)
                    .and_then(|offset| i32::try_from(offset).ok())
                    .ok_or_else(|| {
                        unresolved(format!(
                            "offset {target} is outside section {section_name} ({size} bytes)"
                        ))
                    })?;
                slots[0].src = pseudo::MAP_IDX_VALUE;
                slots[0].imm = map_index_imm(map)?;
                slots[1].imm = offset;
            }
            SymbolPlace::Undefined => {
                return Err(unresolved("the symbol is undefined (extern)".to_owned()));
            }
            SymbolPlace::Special(index) => {
                return Err(unresolved(format!(
                    "the symbol has the reserved section index {index:#x} (absolute or common)"
                )));
            }
        }
        Ok(())
    }
}
