//! What one run carries besides the program: the per-run context (budget,
//! random state, cpu id, captured trace) and the outcome of a run.

use std::time::{Duration, Instant};

use crate::ProgramKind;
use crate::exec::builtin::callbacks::Callbacks;
use crate::exec::builtin::events::Reservations;
use crate::exec::builtin::redirect::Redirect;
use crate::exec::builtin::spin_lock::HeldLock;
use crate::exec::builtin::tail_call::{TailCallState, TailCallTargets};
use crate::exec::builtin::time::{Clock, ClockState};
use crate::exec::ctx::skb::{SkbInput, SkbState};
use crate::exec::ctx::{ContextOut, Packet};
use crate::exec::trace::Trace;

/// Instructions a run may execute unless told otherwise.
pub const DEFAULT_INSN_BUDGET: u64 = 10_000_000;

/// Seed of the pseudo-random generator unless told otherwise.
pub const DEFAULT_SEED: u64 = 0x2545_f491_4f6c_dd1d;

/// What one run may use and what it leaves behind besides its result: the
/// instruction budget, the random generator's state, the cpu id helpers see,
/// and the captured `trace_printk` lines. Reuse one per thread across runs.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Most instructions a run may execute, counting the units helpers charge
    /// ([`HelperContext::charge`](crate::HelperContext::charge)); a run that
    /// would exceed it stops with
    /// [`RunError::BudgetExhausted`](crate::RunError::BudgetExhausted) at the
    /// first instruction it did not execute.
    pub insn_budget: u64,
    /// The CPU the run is on: what `bpf_get_smp_processor_id` returns, and
    /// whose values of per-CPU maps the program sees. It must be below the
    /// possible CPUs of the program's maps
    /// ([`RunError::CpuOutOfRange`](crate::RunError::CpuOutOfRange)).
    pub cpu_id: u32,
    /// What `bpf_trace_printk` printed, oldest first: recorded during the
    /// run, formatted when read ([`RunContext::take_trace`]), at most
    /// [`Trace::limit`] bytes of it kept ([`RunContext::with_trace_limit`]).
    pub trace: Trace,
    /// A wall-clock instant the run must not outlast: a run still going
    /// then ends with
    /// [`RunError::DeadlineExceeded`](crate::RunError::DeadlineExceeded).
    /// The clock is read when the run starts and then every
    /// [`CLOCK_SLICE`](crate::exec::CLOCK_SLICE) budget units, where the
    /// budget is checked (taken jumps, calls, helper calls), so a run ends
    /// at most one slice of work after it. `None` (the default): no limit
    /// but the budget. A run with a deadline runs in the interpreter.
    pub deadline: Option<Instant>,
    /// The packet of the last packet run, as the kernel's test run returns
    /// it ([`Packet::bytes`]); with [`RunContext::carry_packet`] the next
    /// run goes on with it.
    pub packet: Packet,
    /// The `__sk_buff` fields user space sets before a run (`ctx_in`),
    /// applied when a run loads a fresh packet (`None`: no `ctx_in`).
    pub skb_input: Option<SkbInput>,
    /// The `__sk_buff` state after the last run of a tc, socket filter or
    /// `cgroup_skb` program (mark, priority, cb, ...).
    pub skb: SkbState,
    /// Whether a packet run goes on with the packet, its pointers and its
    /// context as the last run of the same kind left them (what the
    /// kernel's test run does from one repetition to the next) instead of
    /// loading its input afresh. Off by default.
    pub carry_packet: bool,
    /// Whether a packet run copies the packet back into the caller's input
    /// buffer after the run when its length is unchanged (the packet stays
    /// in [`RunContext::packet`] in any case). On by default; repeated runs
    /// that read the packet from [`RunContext::packet`] once, after the last
    /// run, turn it off to save the copy on every run.
    pub packet_to_input: bool,
    rng_state: u64,
    /// Budget units helpers charged in the current run (kept here, out of
    /// the interpreter's registers, since charges are rare).
    pub(crate) charged: u64,
    /// Units the last helper call charged, not yet counted by the loop.
    pub(crate) pending_charge: u64,

    // What the helpers of exec::builtin keep (clock, redirect).
    /// The clock `bpf_ktime_get_ns`, `_boot_ns`, `_coarse_ns` and `_tai_ns`
    /// read ([`RunContext::with_clock`]): the host's by default.
    pub clock: Clock,
    pub(crate) clock_state: ClockState,
    /// The redirect target of the current run (see [`RunOutcome::redirect`]).
    pub(crate) redirect: Option<Redirect>,
    /// Ring buffer records reserved and not yet committed in this run.
    pub(crate) reservations: Reservations,
    /// The programs `bpf_tail_call` may continue in
    /// ([`RunContext::with_tail_call_targets`]); none by default.
    pub tail_call_targets: TailCallTargets,
    pub(crate) tail_call: TailCallState,
    /// The callback helper calls in progress (`bpf_loop`).
    pub(crate) callbacks: Callbacks,
    /// The spin lock the run holds.
    pub(crate) held_lock: Option<HeldLock>,
}

impl Default for RunContext {
    fn default() -> Self {
        RunContext::new()
    }
}

impl RunContext {
    /// Default budget, cpu 0, default seed, empty trace.
    pub fn new() -> Self {
        RunContext {
            insn_budget: DEFAULT_INSN_BUDGET,
            cpu_id: 0,
            trace: Trace::default(),
            deadline: None,
            packet: Packet::default(),
            skb_input: None,
            skb: SkbState::default(),
            carry_packet: false,
            packet_to_input: true,
            rng_state: DEFAULT_SEED,
            charged: 0,
            pending_charge: 0,
            clock: Clock::Host,
            clock_state: ClockState::default(),
            redirect: None,
            reservations: Reservations::default(),
            tail_call_targets: TailCallTargets::default(),
            tail_call: TailCallState::default(),
            callbacks: Callbacks::default(),
            held_lock: None,
        }
    }

    /// Sets the instruction budget.
    pub fn with_budget(mut self, budget: u64) -> Self {
        self.insn_budget = budget;
        self
    }

    /// Sets the wall-clock deadline ([`RunContext::deadline`]).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the deadline `timeout` from now (no deadline when that instant
    /// cannot be represented: the timeout is too long to matter).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Instant::now().checked_add(timeout);
        self
    }

    /// Sets the run's CPU ([`RunContext::cpu_id`]).
    pub fn with_cpu(mut self, cpu: u32) -> Self {
        self.cpu_id = cpu;
        self
    }

    /// Sets the `__sk_buff` fields user space sets before a run
    /// ([`RunContext::skb_input`]).
    pub fn with_skb_input(mut self, input: SkbInput) -> Self {
        self.skb_input = Some(input);
        self
    }

    /// Seeds `bpf_get_prandom_u32` (a seed of 0 is replaced by the default).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng_state = if seed == 0 { DEFAULT_SEED } else { seed };
        self
    }

    /// Sets the clock the `bpf_ktime_get_*` helpers read; a fixed clock
    /// ([`Clock::Fixed`]) makes their results repeat from run to run of
    /// the same inputs.
    ///
    /// ```
    /// use tinybpf_vm::{Clock, LoadedProgram, ProgramOptions, RunContext, isa::asm::assemble_bytes};
    /// // r0 = second reading - first reading
    /// let code = assemble_bytes("call 5\nmov %r6, %r0\ncall 125\nsub %r0, %r6\nexit").unwrap();
    /// let program = LoadedProgram::load(&code, ProgramOptions::default()).unwrap();
    /// let mut ctx = RunContext::new().with_clock(Clock::Fixed { start_ns: 1_000, step_ns: 250 });
    /// assert_eq!(program.run_with(&mut [], &mut ctx).unwrap().retval, 250);
    /// ```
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self.clock_state = ClockState::default();
        self
    }

    /// Sets the programs `bpf_tail_call` may continue in, by the reference
    /// a `PROG_ARRAY` slot stores.
    pub fn with_tail_call_targets(mut self, targets: TailCallTargets) -> Self {
        self.tail_call_targets = targets;
        self
    }

    /// Reads the run's clock once.
    pub(crate) fn read_clock(&mut self) -> u64 {
        self.clock_state.read(self.clock)
    }

    /// Keeps at most `bytes` of trace output (by default
    /// [`DEFAULT_TRACE_LIMIT`](crate::exec::trace::DEFAULT_TRACE_LIMIT));
    /// the lines past it are counted, and reading the trace ends with a
    /// marker line.
    pub fn with_trace_limit(mut self, bytes: usize) -> Self {
        self.trace.set_limit(bytes);
        self
    }

    /// The captured trace lines, formatted now (with a last marker line
    /// when some were left out past the limit), leaving the trace empty.
    pub fn take_trace(&mut self) -> Vec<String> {
        let lines = self.trace.lines().collect();
        self.trace.clear();
        lines
    }

    /// The context the last packet run left, as the kernel's test run
    /// reports it (`None` before any packet run).
    pub fn context_out(&self) -> Option<ContextOut> {
        match self.packet.live? {
            ProgramKind::Xdp => Some(ContextOut::Xdp(self.packet.xdp_md_out())),
            ProgramKind::Tc | ProgramKind::SocketFilter | ProgramKind::CgroupSkb => {
                Some(ContextOut::Skb(self.skb.output()))
            }
            ProgramKind::Memory => None,
        }
    }

    /// xorshift64*: the next 32 random bits.
    pub(crate) fn next_random(&mut self) -> u32 {
        let mut x = self.rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng_state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// The result of a run that reached its final `exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunOutcome {
    /// r0 at exit.
    pub retval: u64,
    /// Instructions executed (an `lddw` counts once).
    pub insns: u64,

    // What the helpers of exec::builtin leave (redirect).
    /// Where `bpf_redirect` or `bpf_redirect_map` sent the packet: the last
    /// call that set a target (a `bpf_redirect_map` miss clears it), as the
    /// kernel's `bpf_redirect_info` holds it after the run; `None` when no
    /// call did. Meaningful when the verdict is a redirect.
    pub redirect: Option<Redirect>,
}
