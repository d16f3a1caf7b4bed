//! Linking one program: its code with map and global-variable references
//! resolved, and the `.text` subprograms it reaches appended, as libbpf
//! does. Only the program's function and the functions it reaches are
//! decoded, checked and copied, so the work is proportional to the linked
//! program, whatever the size of the object.
//!
//! Conventions of the linked code (what the VM resolves at load time):
//! - a map reference is `lddw` with `src = 5` (`BPF_PSEUDO_MAP_IDX`) and
//!   `imm` = index into the program's [`LinkedProgram::maps`];
//! - a global variable is `lddw` with `src = 6` (`BPF_PSEUDO_MAP_IDX_VALUE`),
//!   first `imm` = that map index, second `imm` = offset within the value;
//! - a call of a subprogram is `call` with `src = 1` and a pc-relative `imm`
//!   to the subprogram's copy after the program's own code;
//! - a function reference (a callback for `bpf_loop`: clang's `lddw` with an
//!   `R_BPF_64_64` relocation against `.text`) is `lddw` with `src = 4`
//!   (`BPF_PSEUDO_FUNC`) and the same pc-relative `imm` to the function's
//!   copy, as libbpf makes it; the function is linked as a called one is.

use std::collections::HashMap;

use tinybpf_vm::ProgramKind;
use tinybpf_vm::isa::insn::{Insn, class, decode_all, jmp, opcode, pseudo};

use crate::elf::{Relocation, SymbolPlace, display_symbol};
use crate::error::{LoadError, LoadErrorKind};
use crate::image::{Image, TEXT_SECTION};
use crate::object::{Object, ObjectProgram};
use crate::program_type::ProgramType;

/// `R_BPF_64_64`: the 64-bit immediate of an `lddw`.
pub(crate) const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: the 32-bit immediate of a call.
pub(crate) const R_BPF_64_32: u32 = 10;

/// A program linked for the VM: its code, where each part of it comes from,
/// and the object maps it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedProgram {
    /// The object file it comes from (for messages).
    pub object: String,
    /// The program's function symbol.
    pub name: String,
    /// Its ELF section (`xdp`, `socket`, ...).
    pub section: String,
    /// Its program type, from the section name as libbpf maps it.
    pub program_type: ProgramType,
    /// How it receives its input.
    pub kind: ProgramKind,
    /// The linked code (see the module documentation for its conventions).
    pub code: Vec<Insn>,
    /// Where each part of `code` comes from: the program's own function
    /// first, then each `.text` subprogram appended, in code order.
    pub functions: Vec<LinkedFunction>,
    /// The maps the code refers to: entry `i` is the index in
    /// [`Object::maps`] of the map that `lddw` map index `i` means.
    pub maps: Vec<usize>,
    /// The names of those maps, in the same order (for messages).
    pub map_names: Vec<String>,
}

/// One function laid out in a linked program's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedFunction {
    /// The function symbol.
    pub name: String,
    /// Its ELF section.
    pub section: String,
    /// Index of its first instruction in that section.
    pub section_start: usize,
    /// Index of its first instruction in the linked code.
    pub start: usize,
    /// Its number of instruction slots.
    pub len: usize,
}

impl LinkedProgram {
    /// The function that instruction `pc` of the linked code belongs to, and
    /// the instruction's index in that function's section.
    pub fn origin(&self, pc: usize) -> Option<(&LinkedFunction, usize)> {
        let index = self.functions.partition_point(|f| f.start <= pc);
        let function = &self.functions[index.checked_sub(1)?];
        (pc < function.start + function.len)
            .then(|| (function, function.section_start + (pc - function.start)))
    }
}

impl Object {
    /// Links program `name`: its own code, then the `.text` functions it
    /// reaches, with every map and global-variable reference resolved.
    /// Sections, relocations and functions the program does not reach are
    /// not looked at.
    pub fn link(&self, name: &str) -> Result<LinkedProgram, LoadError> {
        let program = self.require_program(name)?;
        self.link_program(program)
    }

    /// Links `program` (one of [`Object::programs`]).
    pub fn link_program(&self, program: &ObjectProgram) -> Result<LinkedProgram, LoadError> {
        let mut linker = Linker {
            image: &self.image,
            maps: Vec::new(),
            local: HashMap::new(),
        };
        let (code, functions) = linker
            .link(FunctionRef {
                section: program.code_section,
                function: program.function,
            })
            .map_err(|kind| self.error(kind))?;
        Ok(LinkedProgram {
            object: self.name.clone(),
            name: program.name.clone(),
            section: program.section.clone(),
            program_type: program.program_type,
            kind: program.kind,
            code,
            functions,
            map_names: linker
                .maps
                .iter()
                .map(|&index| self.maps[index].name.clone())
                .collect(),
            maps: linker.maps,
        })
    }
}

/// A call or function reference that leaves its function.
#[derive(Debug, Clone, Copy)]
struct Reference {
    /// Position of the `call` or `lddw` in its function.
    pos: usize,
    /// The `.text` instruction it reaches.
    target: usize,
    /// A function reference (`lddw`), which must name a function's start.
    func: bool,
}

/// Where a function of the program being linked comes from.
#[derive(Debug, Clone, Copy)]
struct FunctionRef {
    /// Index in `Image::code`.
    section: usize,
    /// Index in that section's `functions`.
    function: usize,
}

/// The state of one program's linking.
struct Linker<'i> {
    image: &'i Image,
    /// Object map index of each map the program uses, in first-use order.
    maps: Vec<usize>,
    /// Object map index -> index in `maps`.
    local: HashMap<usize, usize>,
}

fn flow(section: &str, insn: usize, reason: String) -> LoadErrorKind {
    LoadErrorKind::BadControlFlow {
        section: section.to_owned(),
        insn,
        reason,
    }
}

impl Linker<'_> {
    /// The program starting at `entry`, followed by every `.text` function it
    /// reaches, each call rewritten to the callee's new position.
    fn link(
        &mut self,
        entry: FunctionRef,
    ) -> Result<(Vec<Insn>, Vec<crate::LinkedFunction>), LoadErrorKind> {
        let image = self.image;
        let mut queue = vec![(entry, 0usize)];
        let mut placed: HashMap<usize, usize> = HashMap::new();
        let mut total = self.function_len(entry);
        if Some(entry.section) == image.text {
            placed.insert(entry.function, 0);
        }
        let mut out = Vec::with_capacity(total);
        let mut layout = Vec::new();
        let mut next = 0;
        while let Some(&(current, base)) = queue.get(next) {
            next += 1;
            let section_name = image.section_name(current.section);
            let function_start = image.code[current.section].functions[current.function].start;
            layout.push(LinkedFunction {
                name: image
                    .function_name(current.section, current.function)
                    .to_owned(),
                section: section_name.to_owned(),
                section_start: function_start,
                start: base,
                len: self.function_len(current),
            });
            let (mut code, calls) = self.relocated_code(current)?;
            for Reference {
                pos,
                target: text_target,
                func,
            } in calls
            {
                let at = function_start + pos;
                let what = if func {
                    "the function reference's target"
                } else {
                    "the call's target"
                };
                let (callee, callee_offset) = self.text_function_at(text_target).ok_or_else(|| {
                    flow(
                        section_name,
                        at,
                        format!(
                            "{what}, {TEXT_SECTION} instruction {text_target}, is not inside a function"
                        ),
                    )
                })?;
                if func && callee_offset != 0 {
                    return Err(flow(
                        section_name,
                        at,
                        format!(
                            "{what}, {TEXT_SECTION} instruction {text_target}, is not the start of a function"
                        ),
                    ));
                }
                let callee_base = match placed.get(&callee) {
                    Some(&b) => b,
                    None => {
                        let b = total;
                        let callee_ref = FunctionRef {
                            section: image.text.unwrap_or_default(),
                            function: callee,
                        };
                        total += self.function_len(callee_ref);
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
                    flow(
                        section_name,
                        at,
                        "the linked program is too large for a call offset".to_owned(),
                    )
                })?;
                if func {
                    code[pos].src = pseudo::FUNC;
                    code[pos + 1].imm = 0;
                }
            }
            out.extend_from_slice(&code);
        }
        Ok((out, layout))
    }

    fn function_len(&self, r: FunctionRef) -> usize {
        self.image.code[r.section].functions[r.function].len
    }

    /// The `.text` function holding instruction `target` of `.text`, and the
    /// target's offset in it.
    fn text_function_at(&self, target: usize) -> Option<(usize, usize)> {
        let text = &self.image.code[self.image.text?];
        let index = text.functions.partition_point(|f| f.start <= target);
        let function = index.checked_sub(1)?;
        let f = &text.functions[function];
        let offset = target - f.start;
        (offset < f.len).then_some((function, offset))
    }

    /// The relocations of one function, checked (the table, the entry, and
    /// the instruction it applies to), by instruction index in the section.
    fn relocations_of(
        &self,
        r: FunctionRef,
        insns: &[Insn],
    ) -> Result<HashMap<usize, Relocation>, LoadErrorKind> {
        let image = self.image;
        let section = &image.code[r.section];
        let header = &image.elf.sections[section.elf_index];
        for &table in &section.tables {
            image.elf.relocations[table].check()?;
        }
        // An entry past the end of the section belongs to no function: report it
        // whenever the section is linked.
        if let Some(&(_, table, entry)) = section.relocations.last() {
            image.elf.relocations[table].entry(
                entry,
                image.elf.symbols.len(),
                &header.name,
                header.size,
                1,
            )?;
        }
        let f = &section.functions[r.function];
        let (from, to) = (f.start as u64 * 8, (f.start + f.len) as u64 * 8);
        let first = section.relocations.partition_point(|e| e.0 < from);
        let mut found = HashMap::new();
        for &(offset, table, entry) in section.relocations[first..].iter().take_while(|e| e.0 < to)
        {
            let reloc = image.elf.relocations[table].entry(
                entry,
                image.elf.symbols.len(),
                &header.name,
                header.size,
                8,
            )?;
            let index = (offset / 8) as usize;
            let insn = insns[index - f.start];
            let wrong = |r_type_name, expected| LoadErrorKind::RelocationOnWrongInstruction {
                section: header.name.clone(),
                insn: index,
                r_type_name,
                opcode: insn.opcode,
                expected,
            };
            match reloc.r_type {
                R_BPF_64_64 => {
                    let second = insns.get(index - f.start + 1);
                    if !insn.is_lddw() || second.is_some_and(|s| s.opcode != 0) {
                        return Err(wrong("R_BPF_64_64", "the first slot of an lddw"));
                    }
                    if second.is_none() {
                        return Err(LoadErrorKind::BadRelocationOffset {
                            section: header.name.clone(),
                            offset,
                            section_size: header.size,
                            reason: "the lddw's second slot is beyond the end of its function",
                        });
                    }
                }
                R_BPF_64_32 => {
                    if insn.opcode != opcode::CALL || insn.src != pseudo::CALL_LOCAL {
                        return Err(wrong("R_BPF_64_32", "a local call (call with src 1)"));
                    }
                }
                r_type => {
                    return Err(LoadErrorKind::UnsupportedRelocationType {
                        section: header.name.clone(),
                        insn: index,
                        r_type,
                    });
                }
            }
            if found.insert(index, reloc).is_some() {
                return Err(LoadErrorKind::BadRelocationOffset {
                    section: header.name.clone(),
                    offset,
                    section_size: header.size,
                    reason: "a second relocation of one instruction",
                });
            }
        }
        Ok(found)
    }

    /// One function's code with its `lddw` relocations applied, and its calls
    /// and function references that leave the function.
    fn relocated_code(
        &mut self,
        r: FunctionRef,
    ) -> Result<(Vec<Insn>, Vec<Reference>), LoadErrorKind> {
        let image = self.image;
        let section = &image.code[r.section];
        let header = &image.elf.sections[section.elf_index];
        let section_name = header.name.as_str();
        if !header.size.is_multiple_of(8) {
            return Err(LoadErrorKind::CodeSizeNotMultipleOf8 {
                section: section_name.to_owned(),
                size: header.size,
            });
        }
        let f = &section.functions[r.function];
        let function_name = image.function_name(r.section, r.function);
        let bytes = image
            .elf
            .data(&image.bytes, section.elf_index)
            .and_then(|data| data.get(f.start * 8..(f.start + f.len) * 8))
            .unwrap_or_default();
        let mut code = decode_all(bytes).unwrap_or_default();
        let relocations = self.relocations_of(r, &code)?;
        let in_text = Some(r.section) == image.text;
        let mut calls = Vec::new();
        let mut pos = 0;
        while pos < code.len() {
            let at = f.start + pos;
            let insn = code[pos];
            let reloc = relocations.get(&at);
            if insn.is_lddw() {
                if pos + 1 >= code.len() {
                    return Err(flow(
                        section_name,
                        at,
                        format!("lddw's second slot is past the end of function {function_name}"),
                    ));
                }
                match reloc {
                    Some(reloc) if self.in_text(reloc) => {
                        let target =
                            self.function_reference(section_name, at, reloc, &code[pos..pos + 2])?;
                        calls.push(Reference {
                            pos,
                            target,
                            func: true,
                        });
                    }
                    Some(reloc) => {
                        self.resolve_lddw(section_name, at, reloc, &mut code[pos..pos + 2])?
                    }
                    None if insn.src == pseudo::FUNC => {
                        // A hand-made reference, pc-relative as a local call.
                        let relative = pos as i64 + 1 + i64::from(insn.imm);
                        if !(0..code.len() as i64).contains(&relative) {
                            if !in_text {
                                return Err(flow(
                                    section_name,
                                    at,
                                    format!(
                                        "function reference leaves function {function_name} without a relocation"
                                    ),
                                ));
                            }
                            let target = usize::try_from(at as i64 + 1 + i64::from(insn.imm))
                                .map_err(|_| {
                                    flow(
                                        section_name,
                                        at,
                                        format!(
                                            "function reference before the start of {TEXT_SECTION}"
                                        ),
                                    )
                                })?;
                            calls.push(Reference {
                                pos,
                                target,
                                func: true,
                            });
                        }
                    }
                    None if insn.src != pseudo::IMM64 => {
                        return Err(flow(
                            section_name,
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
                    Some(reloc) => self.relocated_call_target(section_name, at, reloc, insn.imm)?,
                    None => {
                        let relative = pos as i64 + 1 + i64::from(insn.imm);
                        if (0..code.len() as i64).contains(&relative) {
                            // Stays inside the function: the offset is still right.
                            pos += 1;
                            continue;
                        }
                        if !in_text {
                            return Err(flow(
                                section_name,
                                at,
                                format!(
                                    "local call leaves function {function_name} without a relocation"
                                ),
                            ));
                        }
                        at as i64 + 1 + i64::from(insn.imm)
                    }
                };
                let target = usize::try_from(target).map_err(|_| {
                    flow(
                        section_name,
                        at,
                        format!("call target {target} is before the start of {TEXT_SECTION}"),
                    )
                })?;
                calls.push(Reference {
                    pos,
                    target,
                    func: false,
                });
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
                    return Err(flow(
                        section_name,
                        at,
                        format!(
                            "jump to instruction {} leaves function {function_name}",
                            f.start as i64 + target
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
    ) -> Result<i64, LoadErrorKind> {
        let image = self.image;
        let sym = &image.elf.symbols[reloc.symbol];
        let unresolved = |reason: String| LoadErrorKind::UnresolvedSymbol {
            section: section.to_owned(),
            insn: at,
            symbol: display_symbol(&sym.name, reloc.symbol),
            reason,
        };
        let text_index = image.text.map(|t| image.code[t].elf_index);
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
        if !sym.value.is_multiple_of(8) {
            return Err(unresolved(format!(
                "symbol value {} is not on an instruction boundary",
                sym.value
            )));
        }
        let base = i64::try_from(sym.value / 8)
            .map_err(|_| unresolved(format!("symbol value {} is too large", sym.value)))?;
        Ok(base + 1 + i64::from(imm))
    }

    /// Whether a relocation's symbol lies in `.text` (an `lddw` of it is a
    /// function reference).
    fn in_text(&self, reloc: &Relocation) -> bool {
        let image = self.image;
        let text_index = image.text.map(|t| image.code[t].elf_index);
        matches!(image.elf.symbols[reloc.symbol].place, SymbolPlace::Section(s) if Some(s) == text_index)
    }

    /// The `.text` instruction a relocated function reference (`lddw` of a
    /// `.text` symbol) names: `(symbol value + addend) / 8`.
    fn function_reference(
        &self,
        section: &str,
        at: usize,
        reloc: &Relocation,
        slots: &[Insn],
    ) -> Result<usize, LoadErrorKind> {
        let sym = &self.image.elf.symbols[reloc.symbol];
        let unresolved = |reason: String| LoadErrorKind::UnresolvedSymbol {
            section: section.to_owned(),
            insn: at,
            symbol: display_symbol(&sym.name, reloc.symbol),
            reason,
        };
        let target = lddw_target(sym.value, slots);
        if target < 0 || target % 8 != 0 {
            return Err(unresolved(format!(
                "function reference to byte {target} of {TEXT_SECTION}, not an instruction boundary"
            )));
        }
        usize::try_from(target / 8)
            .map_err(|_| unresolved(format!("function reference to byte {target} is too large")))
    }

    /// The program's index for object map `map`, given on first use.
    fn local_map(&mut self, map: usize) -> Result<i32, String> {
        let next = self.maps.len();
        let index = *self.local.entry(map).or_insert(next);
        if index == next {
            self.maps.push(map);
        }
        i32::try_from(index).map_err(|_| format!("map index {index} is too large"))
    }

    /// Rewrites a relocated `lddw` into a map or map-value reference.
    fn resolve_lddw(
        &mut self,
        section: &str,
        at: usize,
        reloc: &Relocation,
        slots: &mut [Insn],
    ) -> Result<(), LoadErrorKind> {
        let image = self.image;
        let sym = &image.elf.symbols[reloc.symbol];
        let unresolved = |reason: String| LoadErrorKind::UnresolvedSymbol {
            section: section.to_owned(),
            insn: at,
            symbol: display_symbol(&sym.name, reloc.symbol),
            reason,
        };
        let target = lddw_target(sym.value, slots);
        let s = match sym.place {
            SymbolPlace::Section(s) => s,
            SymbolPlace::Undefined => {
                return Err(unresolved("the symbol is undefined (extern)".to_owned()));
            }
            SymbolPlace::Special(index) => {
                return Err(unresolved(format!(
                    "the symbol has the reserved section index {index:#x} (absolute or common)"
                )));
            }
        };
        let section_name = image.elf.sections[s].name.as_str();
        if section_name == crate::map_defs::MAPS_SECTION
            || section_name == crate::object::BTF_MAPS_SECTION
        {
            let map = u64::try_from(target)
                .ok()
                .and_then(|offset| image.map_offsets.get(&(s, offset)))
                .ok_or_else(|| {
                    unresolved(format!(
                        "no map definition starts at offset {target} of section {section_name}"
                    ))
                })?;
            slots[0].src = pseudo::MAP_IDX;
            slots[0].imm = self.local_map(*map).map_err(unresolved)?;
            slots[1].imm = 0;
            return Ok(());
        }
        if image.code.iter().any(|c| c.elf_index == s) {
            return Err(unresolved(format!(
                "a function reference must name a {TEXT_SECTION} function, this symbol is in {section_name}"
            )));
        }
        let Some(&map) = image.data_maps.get(&s) else {
            return Err(unresolved(format!(
                "it is in section {section_name}, which holds neither maps nor global data"
            )));
        };
        let size = image.elf.sections[s].size;
        let offset = u32::try_from(target)
            .ok()
            .filter(|&offset| u64::from(offset) < size)
            .and_then(|offset| i32::try_from(offset).ok())
            .ok_or_else(|| {
                unresolved(format!(
                    "offset {target} is outside section {section_name} ({size} bytes)"
                ))
            })?;
        slots[0].src = pseudo::MAP_IDX_VALUE;
        slots[0].imm = self.local_map(map).map_err(unresolved)?;
        slots[1].imm = offset;
        Ok(())
    }
}

/// The byte a relocated `lddw` (its two slots) refers to: the symbol's
/// value plus the 64-bit addend clang left in the instruction (0, or the
/// offset in a section), wide enough never to overflow.
fn lddw_target(symbol_value: u64, slots: &[Insn]) -> i128 {
    let addend = (u64::from(slots[0].imm as u32) | (u64::from(slots[1].imm as u32) << 32)) as i64;
    i128::from(symbol_value) + i128::from(addend)
}
