//! Typed errors of the VM: [`VerifyError`] when a program is rejected before it
//! runs, [`RunError`] when a run stops on a fault.

use thiserror::Error;
use tinybpf_maps::{MapError, MapType};

/// A map helper called with a map whose type the kernel's verifier refuses
/// for it ([`InvalidInsn::MapHelperRefused`] at load time,
/// [`HelperError::MapRefused`] at run time).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{helper} with map {map}, which the kernel's verifier refuses: {source}")]
pub struct MapRefusal {
    /// The helper (`bpf_map_lookup_elem`, ...).
    pub helper: &'static str,
    /// The map's index in the program's map table.
    pub map: usize,
    /// The map's refusal, naming its type and the operation.
    pub source: MapError,
}

use crate::exec::builtin::names::{HelperName, describe_missing};
use crate::exec::memory::{
    CALLBACK_KEY_SLOT, CONTEXT_SLOT, FIRST_MAP_SLOT, INPUT_SLOT, INPUT_START, MAP_HANDLE_BASE,
    STACK_SLOT, XDP_MD_SIZE,
};

/// Why a program was rejected at load time.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The program has no instructions.
    #[error("the program is empty")]
    Empty,
    /// The byte length is not a whole number of 8-byte slots.
    #[error("the program is {len} bytes long, not a multiple of 8")]
    PartialInstruction {
        /// Length in bytes.
        len: usize,
    },
    /// More slots than the VM accepts.
    #[error("the program has {count} instructions, more than the limit of {limit}")]
    TooLong {
        /// Number of slots.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// More maps than a program may use.
    #[error("the program uses {count} maps, more than the limit of {limit}")]
    TooManyMaps {
        /// Number of maps given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A map's value area cannot be addressed by the VM.
    #[error("map {index}: its value area of {len} bytes is larger than the VM's 4 GiB region")]
    MapTooLarge {
        /// Index in the map table.
        index: usize,
        /// Value area length.
        len: usize,
    },
    /// Per-CPU maps with more possible CPUs than the VM can give views of.
    #[error("the maps' {cpus} possible CPUs are more than the VM can address")]
    TooManyCpus {
        /// The possible CPUs.
        cpus: u32,
    },
    /// A pass produced a program that breaks the translated form's invariants
    /// (see `passes::verify`): a bug in tinybpf. The program is refused,
    /// never run.
    #[error("internal error: after {pass}, op {index}: {problem}")]
    Internal {
        /// The pass that produced the program.
        pass: &'static str,
        /// The op (per-slot or final index).
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// One instruction is invalid.
    #[error("instruction {pc}: {kind}")]
    Invalid {
        /// Slot index of the instruction.
        pc: usize,
        /// What is wrong with it.
        kind: InvalidInsn,
    },
}

/// What is wrong with one instruction (see [`VerifyError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidInsn {
    /// An access through the context pointer that the kernel's verifier
    /// refuses for the program's type (see [`exec::ctx::skb`](crate::exec::ctx::skb)).
    #[error(
        "{access} of {} at __sk_buff offset {offset} ({field}) is refused for {} programs: {reason}",
        bytes(u64::from(*.size)),
        kind.name()
    )]
    ContextAccess {
        /// The field at the offset.
        field: &'static str,
        /// Byte offset in `struct __sk_buff`.
        offset: u16,
        /// Access size in bytes.
        size: u8,
        /// Load or store.
        access: Access,
        /// The program type.
        kind: crate::ProgramKind,
        /// Why the kernel refuses it.
        reason: crate::exec::ctx::skb::ContextRefusal,
    },
    /// The opcode byte is not an eBPF instruction.
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// A register number above r10.
    #[error("register r{0} does not exist")]
    BadRegister(u8),
    /// An instruction that writes r10, the read-only frame pointer.
    #[error("writes r10, the read-only frame pointer")]
    WritesFramePointer,
    /// A field the opcode does not use is not zero, or a field holds a value the opcode does not allow.
    #[error("field {field} has the invalid value {value}")]
    BadField {
        /// Name of the field (`src`, `dst`, `off`, `imm`).
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// Arithmetic other than 64-bit mov/add/sub that reads r10, as the
    /// kernel's "pointer arithmetic prohibited".
    #[error("uses r10 in arithmetic other than a 64-bit mov, add or sub")]
    FramePointerArithmetic,
    /// A jump or call whose target is outside the program.
    #[error("jumps to {target}, outside the program")]
    TargetOutOfProgram {
        /// The computed target slot.
        target: i64,
    },
    /// A jump or call into the second slot of an `lddw`.
    #[error("jumps into the middle of the lddw at {lddw}")]
    TargetInsideLddw {
        /// Slot of the `lddw`.
        lddw: usize,
    },
    /// An `lddw` without its second slot, or with a malformed one.
    #[error("lddw is missing its valid second slot")]
    IncompleteLddw,
    /// Execution can run past the last instruction.
    #[error("the program can fall off its end (the last instruction must be exit or ja)")]
    FallsOffEnd,
    /// A call of a helper id that is not registered.
    #[error("calls {}", describe_missing(i128::from(*.id)))]
    UnknownHelper {
        /// The helper id.
        id: i64,
    },
    /// A call of a kernel function by BTF id.
    #[error("calls a kernel function (kfunc), which tinybpf does not support")]
    Kfunc,
    /// An `lddw` naming a map that is not in the program's map table.
    #[error("refers to map {index}, but the program has {count} maps")]
    UnknownMap {
        /// Index used by the instruction.
        index: i64,
        /// Size of the map table.
        count: usize,
    },
    /// An `lddw` of a map value address with an offset outside the value.
    #[error("refers to offset {offset} of map {index}, outside its {value_size}-byte value")]
    MapValueOffset {
        /// Map index.
        index: usize,
        /// Offset used.
        offset: i64,
        /// The map's value size.
        value_size: u32,
    },
    /// An `lddw` with a pseudo source tinybpf does not know.
    #[error("lddw with unsupported source {0}")]
    UnsupportedLddwSource(u8),
    /// Legacy packet access (`BPF_ABS`/`BPF_IND`).
    #[error("legacy packet access (BPF_ABS/BPF_IND) is not supported")]
    LegacyPacketAccess,
    /// An r10-relative access outside the current 512-byte frame.
    #[error("accesses {size} bytes at r10{offset:+}, outside the 512-byte stack frame")]
    StackOutOfFrame {
        /// Offset from r10.
        offset: i64,
        /// Access size.
        size: usize,
    },
    /// A map helper called with a map whose type the kernel's verifier
    /// refuses for it (`check_map_func_compatibility`), e.g. a lookup in a
    /// program array.
    #[error("calls {0}")]
    MapHelperRefused(Box<MapRefusal>),
    /// A call of a helper the program's type does not have (the kernel's
    /// verifier: "unknown func"; see
    /// [`exec::ctx::offered`](crate::exec::ctx::offered)).
    #[error(
        "calls {}, which {} programs cannot call (the kernel's verifier refuses it as an unknown func)",
        crate::HelperName(i64::from(*.id)),
        kind.name()
    )]
    HelperNotOffered {
        /// The helper id.
        id: u32,
        /// The program type.
        kind: crate::ProgramKind,
    },
    /// An `lddw` of a map value address (global data) in a map whose type
    /// has no directly addressable values: only `BPF_MAP_TYPE_ARRAY` has.
    #[error(
        "refers to the value of map {index}, a {map_type} map; only array maps have values an lddw can address"
    )]
    MapValueNotArray {
        /// Map index.
        index: usize,
        /// The map's type.
        map_type: MapType,
    },
}

/// Kind of memory access, for fault messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store or atomic operation.
    Write,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// Why a run stopped before `exit` of the outermost frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RunError {
    /// A memory access outside every region the program may use (or a write to a read-only one).
    #[error("instruction {pc}: {}", explain_access(*.addr, *.size, *.access))]
    OutOfBounds {
        /// Slot of the faulting instruction.
        pc: usize,
        /// Virtual address accessed.
        addr: u64,
        /// Access size in bytes.
        size: u64,
        /// Load or store.
        access: Access,
    },
    /// An atomic operation on an address not aligned to its size.
    #[error("instruction {pc}: atomic operation of {size} bytes at misaligned address {addr:#x}")]
    MisalignedAtomic {
        /// Slot of the faulting instruction.
        pc: usize,
        /// Virtual address.
        addr: u64,
        /// Operand size.
        size: u64,
    },
    /// The instruction budget ran out (an endless or too long loop): the run
    /// executed exactly `budget` instructions and helper units.
    #[error("instruction {pc}: the budget of {budget} instructions is exhausted")]
    BudgetExhausted {
        /// Slot of the first instruction not executed (or of the helper
        /// call whose work did not fit).
        pc: usize,
        /// The budget.
        budget: u64,
    },
    /// The run was still going at its wall-clock deadline
    /// ([`RunContext::deadline`](crate::RunContext::deadline)).
    #[error(
        "instruction {pc}: the run passed its deadline after {executed} instructions and helper units"
    )]
    DeadlineExceeded {
        /// Slot of the instruction the run would have executed next.
        pc: usize,
        /// Instructions and helper units executed by then.
        executed: u64,
    },
    /// A local call beyond the frame limit.
    #[error("instruction {pc}: call depth limit of {limit} frames exceeded")]
    CallDepthExceeded {
        /// Slot of the call.
        pc: usize,
        /// The limit.
        limit: usize,
    },
    /// `callx` to a helper id that is not registered.
    #[error("instruction {pc}: callx to {}", describe_missing(i128::from(*.id)))]
    UnknownHelper {
        /// Slot of the call.
        pc: usize,
        /// Helper id found in the register.
        id: u64,
    },
    /// A helper reported a fault (e.g. a bad pointer argument).
    #[error("instruction {pc}: {}: {source}", HelperName(i64::from(*.id)))]
    Helper {
        /// Slot of the call.
        pc: usize,
        /// Helper id.
        id: u32,
        /// What the helper reported.
        source: HelperError,
    },
    /// A packet program's input is shorter than an Ethernet header (the
    /// kernel's test run refuses it with `EINVAL`).
    #[error("the packet of {len} bytes is shorter than an Ethernet header ({min} bytes)")]
    PacketTooShort {
        /// Input length.
        len: usize,
        /// The least a packet may have.
        min: usize,
    },
    /// An access to `struct __sk_buff` that the kernel's verifier refuses
    /// for the program's type.
    #[error(
        "instruction {pc}: {access} of {} at __sk_buff offset {offset} ({field}) is refused for {} programs: {reason}",
        bytes(u64::from(*.size)),
        kind.name()
    )]
    ContextAccess {
        /// Slot of the faulting instruction.
        pc: usize,
        /// The field at the offset.
        field: &'static str,
        /// Byte offset in `struct __sk_buff`.
        offset: u16,
        /// Access size in bytes.
        size: u8,
        /// Load or store.
        access: Access,
        /// The program type.
        kind: crate::ProgramKind,
        /// Why the kernel refuses it.
        reason: crate::exec::ctx::skb::ContextRefusal,
    },
    /// A context field set before the run has a value the kernel's test
    /// run refuses.
    #[error("context field {field} {reason}")]
    ContextInput {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The input memory does not fit the VM's address space.
    #[error("the input of {len} bytes is larger than the limit of {limit} bytes")]
    InputTooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The run's CPU ([`RunContext::cpu_id`](crate::RunContext::cpu_id)) is
    /// not one of the possible CPUs its maps were created for.
    #[error(
        "the run's CPU {cpu} is not one of the {possible_cpus} possible CPUs of the program's maps (CPUs 0 to {}); run on a CPU below {possible_cpus} or create the maps for more CPUs",
        .possible_cpus.saturating_sub(1)
    )]
    CpuOutOfRange {
        /// The run's CPU.
        cpu: u32,
        /// The possible CPUs.
        possible_cpus: u32,
    },
}

/// A fault reported by a helper function; ends the run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HelperError {
    /// A map helper called with a map whose type the kernel's verifier
    /// refuses for it, found at run time (`callx`, or a map the load-time
    /// check could not follow, such as one in a spilled register).
    #[error("{0}")]
    MapRefused(Box<MapRefusal>),
    /// A pointer argument does not point to enough memory the program may use.
    #[error("{}", explain_access(*.addr, *.size, *.access))]
    OutOfBounds {
        /// Virtual address.
        addr: u64,
        /// Size in bytes.
        size: u64,
        /// Load or store.
        access: Access,
    },
    /// The helper's work would exceed the run's instruction budget (see
    /// [`HelperContext::charge`](crate::HelperContext::charge)); the run ends
    /// with [`RunError::BudgetExhausted`].
    #[error("the run's instruction budget is exhausted")]
    BudgetExhausted,
    /// A placeholder for a kernel helper tinybpf does not implement was
    /// called (see [`Helpers::with_missing_kernel_helpers`](crate::Helpers::with_missing_kernel_helpers)).
    #[error("tinybpf does not implement this kernel helper")]
    NotImplemented,
    /// `bpf_ringbuf_submit` or `_discard` of an address that is not a
    /// record this run reserved and has not committed (the kernel's
    /// verifier refuses such a program).
    #[error(
        "{addr:#x} is not a ring buffer record this run reserved and has not yet submitted or discarded"
    )]
    NotReserved {
        /// The address passed.
        addr: u64,
    },
    /// `bpf_spin_lock`/`bpf_spin_unlock` used as the kernel's verifier
    /// forbids: a second lock, an unlock of a lock not held, a lock outside
    /// an array or hash value.
    #[error("the spin lock at {addr:#x} {problem}")]
    SpinLock {
        /// The lock's address.
        addr: u64,
        /// What is wrong.
        problem: &'static str,
    },
    /// `bpf_tail_call` moved the run to another program: the signal that
    /// ends the calling program, handled by the run itself (never the
    /// error of a run).
    #[error("the run continues in a tail-called program")]
    TailCall,
    /// A callback helper (`bpf_loop`) was passed a value that is not a
    /// reference to one of the program's callbacks (a function a
    /// pseudo-func `lddw` loads; the kernel's verifier refuses the program).
    #[error("{value:#x} is not a callback (a function a pseudo-func lddw refers to)")]
    NotACallback {
        /// The value passed.
        value: u64,
    },
    /// A callback returned something else than 0 (go on) or 1 (stop), which
    /// the kernel's verifier refuses; the error names the callback's `exit`.
    #[error("the callback returned {value}; the kernel allows only 0 (go on) or 1 (stop)")]
    CallbackReturn {
        /// What r0 held.
        value: u64,
    },
    /// A callback helper asked the interpreter to enter its callback: the
    /// signal the interpreter handles (never the error of a run).
    #[error("the run enters a callback")]
    EnterCallback,
    /// Any other fault, described.
    #[error("{0}")]
    Other(String),
}

/// `1 byte` or `N bytes`.
fn bytes(size: u64) -> String {
    if size == 1 {
        "1 byte".to_owned()
    } else {
        format!("{size} bytes")
    }
}

/// Why an access of `size` bytes at `addr` faulted, from where the address
/// points: past the input (with the `data_end` check that prevents it), a
/// NULL pointer, a map handle, the read-only context, the stack or a map.
fn explain_access(addr: u64, size: u64, access: Access) -> String {
    let what = format!("{access} of {} at address {addr:#x}", bytes(size));
    let verb = match access {
        Access::Read => "reading",
        Access::Write => "writing",
    };
    let slot = addr >> 32;
    if addr >= MAP_HANDLE_BASE && addr - MAP_HANDLE_BASE <= u64::from(u16::MAX) {
        return format!(
            "{what} uses map {}'s handle (lddw of a map) as a pointer; look an element up first",
            addr - MAP_HANDLE_BASE
        );
    }
    match slot {
        INPUT_SLOT if addr >= INPUT_START => {
            let needed = (addr - INPUT_START).saturating_add(size);
            format!(
                "{what} runs past the end of the input or packet (it needs {} of it); \
                 check data + {needed} <= data_end before {verb}",
                bytes(needed)
            )
        }
        INPUT_SLOT if addr < 4096 => {
            format!("{what} dereferences a NULL (or small integer) pointer; test it for 0 first")
        }
        CONTEXT_SLOT => match access {
            Access::Write => format!("{what} is in the read-only XDP context or past its end"),
            Access::Read => format!(
                "{what} is outside the {XDP_MD_SIZE}-byte XDP context (or the program has none)"
            ),
        },
        STACK_SLOT => format!("{what} is outside the stack frames the program uses"),
        CALLBACK_KEY_SLOT => match access {
            Access::Write => {
                format!("{what} is in the read-only key a bpf_for_each_map_elem callback receives")
            }
            Access::Read => format!("{what} is outside the key a callback receives"),
        },
        slot if slot >= FIRST_MAP_SLOT && slot - FIRST_MAP_SLOT < 1 << 16 => {
            let map = slot - FIRST_MAP_SLOT;
            match access {
                Access::Read => format!("{what} is outside map {map}'s value area"),
                Access::Write => {
                    format!("{what} is outside map {map}'s value area, or the map is read-only")
                }
            }
        }
        _ => format!("{what} is outside the memory the program may {access}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::memory::{CONTEXT_START, STACK_START, map_value_start};

    fn message(addr: u64, size: u64, access: Access) -> String {
        RunError::OutOfBounds {
            pc: 7,
            addr,
            size,
            access,
        }
        .to_string()
    }

    #[test]
    fn out_of_bounds_messages_say_where_the_address_points() {
        assert_eq!(
            message(INPUT_START + 64, 1, Access::Read),
            "instruction 7: read of 1 byte at address 0x10000040 runs past the end of the \
             input or packet (it needs 65 bytes of it); check data + 65 <= data_end before reading"
        );
        assert!(
            message(INPUT_START + 60, 8, Access::Write)
                .contains("write of 8 bytes at address 0x1000003c runs past the end")
        );
        assert!(
            message(INPUT_START + 60, 8, Access::Write)
                .contains("data + 68 <= data_end before writing")
        );
        assert!(message(0, 4, Access::Read).contains("NULL"));
        assert!(message(MAP_HANDLE_BASE + 2, 8, Access::Read).contains("map 2's handle"));
        assert!(message(CONTEXT_START, 4, Access::Write).contains("read-only XDP context"));
        assert!(message(STACK_START, 8, Access::Read).contains("stack frames"));
        assert!(message(map_value_start(3) + 40, 8, Access::Write).contains("map 3's value area"));
        assert!(message(0x7_0000_0000_0000, 8, Access::Read).contains("outside the memory"));
        let helper = HelperError::OutOfBounds {
            addr: INPUT_START + 8,
            size: 16,
            access: Access::Read,
        };
        assert!(
            helper
                .to_string()
                .starts_with("read of 16 bytes at address 0x10000008")
        );
    }
}
