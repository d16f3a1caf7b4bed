//! The predicted region: before the general check, an access is compared
//! once with the bounds of the region its base register most likely points
//! into, and only a miss takes the general check.
//!
//! The guess ([`predicted_slots`]) follows registers in program order: the
//! stack for copies of r10, a map's value area for an inline lookup's
//! result, the context for r1 at the entry of an XDP program, the input or
//! packet for r1 of a program over memory and for what an XDP or
//! `__sk_buff` program loads from its context's `data`, `data_meta` and
//! `data_end` fields, and whatever a copy or a constant offset of those
//! keeps. A wrong guess costs one compare.
//!
//! # Why the compare is exact
//!
//! The region's start and length are the ones every run maps, either as
//! constants or read from the run's region table ([`Field`]):
//!
//! - constants only where the value is fixed before any run: the stack's
//!   window ([`stack_window`] of the program's stack extent, which
//!   `exec::run` maps), a map's start, length and writability (the
//!   program's own region table, built at load; per-CPU rows differ only
//!   in their host address, which is read from the run's row), a map
//!   every CPU shares's host address (its value area never moves while the
//!   program holds the map, as for `passes::const_addr`), and the start
//!   addresses the address space defines ([`CONTEXT_START`],
//!   [`INPUT_START`]), and the XDP context's length and writability (every
//!   XDP run maps its `struct xdp_md` as XDP_MD_SIZE read-only bytes, and
//!   no helper changes that region's bounds: `exec::run`);
//! - everything else (the packet's bounds, the context's host,
//!   the stack's host, writability of the run's regions) is read from
//!   `Env::run` with the flags of the general check, so that a packet that
//!   moves is followed as the general check follows it.
//!
//! Every region lies inside its slot's 4 GiB. With `offset = addr - start`
//! (wrapping), `offset <= len - size` holds exactly when `addr` is in the
//! region with `size` bytes to go: then `addr`'s slot is the region's, the
//! interpreter's offset (`addr - start`, low 32 bits) is `offset`, and the
//! access ends inside, so `AddressSpace::resolve` accepts it with the same
//! host address. A length read at run time may be below `size`: the limit
//! is then made 0 for a strict compare, which nothing passes.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};

use crate::ProgramKind;
use crate::exec::map_regions::same_for_every_cpu;
use crate::exec::memory::{
    CONTEXT_SLOT, CONTEXT_START, FIRST_MAP_SLOT, INPUT_SLOT, INPUT_START, STACK_SLOT, XDP_MD_SIZE,
    map_value_start, stack_window,
};
use crate::ir::facts::{AccessKind, Memory, Value as IrValue};
use crate::ir::op::Op;
use crate::jit::codegen::{Gen, general_table_flags, region_table_flags};
use crate::jit::env::layout;

/// `data`, `data_end` and `data_meta` in `struct xdp_md`.
const XDP_PACKET_FIELDS: [i16; 3] = [0, 4, 8];
/// `data`, `data_end` and `data_meta` in `struct __sk_buff`.
const SKB_PACKET_FIELDS: [i16; 3] = [76, 80, 140];

/// For each op with a checked access (a lookup's key read included), the
/// slot of the region it most likely hits (see the module docs). Only a
/// guess, which [`Gen::fast_check`] tests before anything relies on it.
pub(super) fn predicted_slots(ops: &[Op], kind: ProgramKind) -> Vec<Option<u64>> {
    let mut holds: [Option<u64>; 16] = [None; 16];
    // r10 is never written; r1 is the context or the input at the entry.
    holds[10] = Some(STACK_SLOT);
    holds[1] = Some(if kind.is_packet() {
        CONTEXT_SLOT
    } else {
        INPUT_SLOT
    });
    let packet_fields = match kind {
        ProgramKind::Xdp => &XDP_PACKET_FIELDS[..],
        ProgramKind::Tc | ProgramKind::SocketFilter | ProgramKind::CgroupSkb => {
            &SKB_PACKET_FIELDS[..]
        }
        ProgramKind::Memory => &[],
    };
    let mut predicted = Vec::with_capacity(ops.len());
    for op in ops {
        let facts = op.facts();
        let (base, loaded) = match facts.memory {
            Memory::Checked {
                base,
                off,
                width,
                kind: access,
            } => {
                let held = holds[usize::from(base) & 15];
                // A pointer to the packet, loaded from the context.
                let packet = held == Some(CONTEXT_SLOT)
                    && width == 4
                    && matches!(access, AccessKind::Load { sign_extend: false })
                    && packet_fields.contains(&off);
                (held, packet.then_some(INPUT_SLOT))
            }
            Memory::LookupKey => (holds[2], None),
            Memory::None
            | Memory::Stack { .. }
            | Memory::Direct { .. }
            | Memory::Fixed { .. }
            | Memory::Helper
            | Memory::Call => (None, None),
        };
        predicted.push(base);
        let value = if let Op::LookupInline { map } = *op {
            Some(map_value_start(usize::from(map)) >> 32)
        } else if let IrValue::Copy(src) | IrValue::Offset(src, _) = facts.value {
            holds[usize::from(src) & 15]
        } else {
            loaded
        };
        for (r, held) in holds.iter_mut().enumerate() {
            if facts.writes.contains(r as u8) || facts.may_write.contains(r as u8) {
                *held = None;
            }
        }
        if let Some(dst) = facts.writes.single() {
            holds[usize::from(dst) & 15] = value;
        }
    }
    predicted
}

/// One of a predicted region's facts: fixed before any run, or read from
/// a table during it.
#[derive(Clone, Copy)]
enum Field {
    /// The same in every run of the program.
    Const(u64),
    /// The 8 bytes (the byte, for writability) at `offset` in `table`,
    /// loaded with `flags`.
    Read {
        table: Value,
        offset: i32,
        flags: MemFlagsData,
    },
}

/// What the predicted-region compare needs of a region (see the module
/// docs for where each field comes from).
#[derive(Clone, Copy)]
pub(super) struct PredictedRegion {
    start: Field,
    len: Field,
    writable: Field,
    host: Field,
}

impl Gen<'_, '_> {
    /// The region op `index`'s checked access most likely hits, unless an
    /// access of this kind cannot succeed there.
    pub(super) fn predicted_region(&self, index: usize, write: bool) -> Option<PredictedRegion> {
        let slot = self.predicted.get(index).copied().flatten()?;
        let region = self.region_of(slot)?;
        if write && matches!(region.writable, Field::Const(0)) {
            return None;
        }
        Some(region)
    }

    /// Region `slot`'s fields, when the compiler knows where to find them.
    fn region_of(&self, slot: u64) -> Option<PredictedRegion> {
        let field_at = |table: Value, slot: u64, field: i32, flags: MemFlagsData| {
            let offset = i64::try_from(slot)
                .ok()?
                .checked_mul(layout::REGION_SIZE)?
                .checked_add(i64::from(field))?;
            Some(Field::Read {
                table,
                offset: i32::try_from(offset).ok()?,
                flags,
            })
        };
        let run = |field: i32, flags: MemFlagsData| field_at(self.run_table, slot, field, flags);
        let fixed = region_table_flags();
        let kind = self.program.kind();
        match slot {
            STACK_SLOT => {
                let (start, len) = stack_window(self.program.stack_extent());
                Some(PredictedRegion {
                    start: Field::Const(start),
                    len: Field::Const(len),
                    writable: Field::Const(1),
                    host: run(layout::REGION_HOST, fixed)?,
                })
            }
            // The context has a region only in XDP programs.
            CONTEXT_SLOT if kind == ProgramKind::Xdp => Some(PredictedRegion {
                start: Field::Const(CONTEXT_START),
                len: Field::Const(XDP_MD_SIZE as u64),
                writable: Field::Const(0),
                host: run(layout::REGION_HOST, fixed)?,
            }),
            CONTEXT_SLOT => None,
            INPUT_SLOT => {
                let moving = general_table_flags(self.packet_moves);
                let start = if kind.is_packet() {
                    run(layout::REGION_START, moving)?
                } else {
                    Field::Const(INPUT_START)
                };
                Some(PredictedRegion {
                    start,
                    len: run(layout::REGION_LEN, moving)?,
                    writable: run(layout::REGION_WRITABLE, moving)?,
                    host: run(layout::REGION_HOST, moving)?,
                })
            }
            _ => {
                let index = usize::try_from(slot.checked_sub(FIRST_MAP_SLOT)?).ok()?;
                let region = self.program.map_regions().first().get(index)?;
                let map = self.program.maps().get(index)?;
                let host = if same_for_every_cpu(map) {
                    Field::Const(region.host as u64)
                } else {
                    field_at(self.maps_by_slot, slot, layout::REGION_HOST, fixed)?
                };
                Some(PredictedRegion {
                    start: Field::Const(region.start),
                    len: Field::Const(region.len),
                    writable: Field::Const(u64::from(region.writable)),
                    host,
                })
            }
        }
    }

    /// A field's value in the code.
    fn field(&mut self, field: Field) -> Value {
        match field {
            Field::Const(value) => self.b.ins().iconst(I64, value as i64),
            Field::Read {
                table,
                offset,
                flags,
            } => self.b.ins().load(I64, flags, table, offset),
        }
    }

    /// Whether an access of `size` bytes at `addr` lies inside `region`
    /// (and is allowed there, for a `write`; with `aligned`, is aligned to
    /// `size` both in the VM and on the host), and its host address if so;
    /// `None` when this cannot be decided by this compare.
    ///
    /// With constant bounds it is one compare with a constant; with
    /// `aligned`, the offset rotated right by log2(`size`) leaves any low
    /// bits at the top, far above the limit (this needs a constant start
    /// aligned to `size`).
    pub(super) fn fast_check(
        &mut self,
        region: PredictedRegion,
        addr: Value,
        size: u64,
        write: bool,
        aligned: bool,
    ) -> Option<(Value, Value)> {
        let shift = size.trailing_zeros();
        if aligned {
            let start_aligned =
                matches!(region.start, Field::Const(start) if start.is_multiple_of(size));
            let host_aligned = match region.host {
                Field::Const(host) => host.is_multiple_of(size),
                Field::Read { .. } => true,
            };
            if !size.is_power_of_two() || !start_aligned || !host_aligned {
                return None;
            }
        }
        let offset = match region.start {
            Field::Const(start) => self.b.ins().iadd_imm_s(addr, start.wrapping_neg() as i64),
            read @ Field::Read { .. } => {
                let start = self.field(read);
                self.b.ins().isub(addr, start)
            }
        };
        let ok = match region.len {
            Field::Const(len) => {
                let last = len.checked_sub(size)?;
                if aligned {
                    let rotated = self.b.ins().rotr_imm_s(offset, i64::from(shift));
                    self.b.ins().icmp_imm_s(
                        IntCC::UnsignedLessThanOrEqual,
                        rotated,
                        (last >> shift) as i64,
                    )
                } else {
                    self.b
                        .ins()
                        .icmp_imm_s(IntCC::UnsignedLessThanOrEqual, offset, last as i64)
                }
            }
            read @ Field::Read { .. } => {
                if aligned {
                    return None;
                }
                // `len - size + 1`, or 0 (nothing passes) when the region
                // is shorter than the access.
                let len = self.field(read);
                let bound = self.b.ins().iadd_imm_s(len, 1 - size as i64);
                let room =
                    self.b
                        .ins()
                        .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, len, size as i64);
                let zero = self.b.ins().iconst(I64, 0);
                let bound = self.b.ins().select(room, bound, zero);
                self.b.ins().icmp(IntCC::UnsignedLessThan, offset, bound)
            }
        };
        let ok = match region.writable {
            Field::Read {
                table,
                offset: at,
                flags,
            } if write => {
                let writable = self.b.ins().uload8(I32, flags, table, at);
                let writable = self.b.ins().icmp_imm_s(IntCC::NotEqual, writable, 0);
                self.b.ins().band(ok, writable)
            }
            Field::Const(_) | Field::Read { .. } => ok,
        };
        let base = self.field(region.host);
        let host = self.b.ins().iadd(base, offset);
        // A run's host base may have any alignment.
        let ok = if aligned && matches!(region.host, Field::Read { .. }) {
            let low = self.b.ins().band_imm_s(host, (size - 1) as i64);
            let host_aligned = self.b.ins().icmp_imm_s(IntCC::Equal, low, 0);
            self.b.ins().band(ok, host_aligned)
        } else {
            ok
        };
        Some((ok, host))
    }
}
