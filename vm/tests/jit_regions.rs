//! The compiled tier's check against a predicted region (a map's value
//! area after an inline lookup, the stack through a copy of r10) at every
//! edge: each access is compared with the interpreter's result or fault
//! (kind, instruction, address) and the maps' bytes afterwards, for keys
//! inside, at the end of and past each map, a null result, every width,
//! loads, stores and atomics, offsets around each element's and the
//! area's ends, misaligned atomics, a per-CPU map on two CPUs, and a map
//! programs may only read; and the run's own regions, whose bounds are read
//! at run time: an input shorter than the access, the XDP context (read
//! only), and packets through the pointers a program loads from its
//! context, writable (XDP, tc) or not (cgroup_skb).
#![cfg(all(feature = "jit", target_arch = "x86_64"))]

use tinybpf_maps::{BPF_F_RDONLY_PROG, BpfMap, MapDef, MapOptions};

mod common;
use tinybpf_vm::{LoadedProgram, ProgramKind, ProgramOptions, RunContext, Tier};

/// `BPF_MAP_TYPE_PERCPU_ARRAY`.
const PERCPU_ARRAY: u32 = 6;

/// The maps every program gets: an array of 12-byte values (elements
/// 16 bytes apart), a per-CPU array, an array programs may only read, and
/// an array of 8-byte values.
fn maps() -> Vec<BpfMap> {
    let options = MapOptions::with_cpus(2);
    let percpu = MapDef {
        map_type: PERCPU_ARRAY,
        ..MapDef::array(8, 2)
    };
    [
        MapDef::array(12, 4),
        percpu,
        MapDef::array(8, 4).with_flags(BPF_F_RDONLY_PROG),
        MapDef::array(8, 4),
    ]
    .into_iter()
    .map(|def| BpfMap::create(def, &options).unwrap())
    .collect()
}

/// Every byte of every element of `maps`, each CPU's for a per-CPU map.
fn contents(maps: &[BpfMap]) -> Vec<Vec<u8>> {
    maps.iter()
        .flat_map(|map| {
            (0..map.def().max_entries).map(move |key| map.lookup(&key.to_le_bytes()).unwrap())
        })
        .collect()
}

fn load(text: &str, maps: &[BpfMap], tier: Tier) -> LoadedProgram {
    load_kind(text, maps, ProgramKind::Memory, tier)
}

fn load_kind(text: &str, maps: &[BpfMap], kind: ProgramKind, tier: Tier) -> LoadedProgram {
    let options = ProgramOptions {
        maps: maps.to_vec(),
        kind,
        tier,
        ..ProgramOptions::default()
    };
    common::load_in_tier(text, options)
}

/// Runs `text` in both tiers, each with its own maps, once per input (the
/// lookup's key in its first 4 bytes) on each CPU given, and compares
/// every result and the maps after each run.
fn agree(text: &str, keys: &[u32], cpus: &[u32]) -> usize {
    let (maps_a, maps_b) = (maps(), maps());
    let interpreted = load(text, &maps_a, Tier::Interpreter);
    let compiled = load(text, &maps_b, Tier::Compiled);
    let mut faults = 0;
    for &cpu in cpus {
        for &key in keys {
            let mut input_a = key.to_le_bytes().to_vec();
            input_a.extend([0x5a; 12]);
            let mut input_b = input_a.clone();
            let a = interpreted.run_with(&mut input_a, &mut RunContext::new().with_cpu(cpu));
            let b = compiled.run_with(&mut input_b, &mut RunContext::new().with_cpu(cpu));
            assert_eq!(a, b, "key {key} on CPU {cpu}\n{text}");
            assert_eq!(input_a, input_b, "key {key}: input\n{text}");
            assert_eq!(
                contents(&maps_a),
                contents(&maps_b),
                "key {key} on CPU {cpu}: maps\n{text}"
            );
            faults += usize::from(a.is_err());
        }
    }
    faults
}

/// A lookup of the input's key in map `map`, then `access` through r0 with
/// no null check (a null result faults in the access).
fn through_lookup(map: usize, access: &str) -> String {
    format!(
        "
        ldxw %r3, [%r1+0]
        stxw [%r10-4], %r3
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_fd:{map}
        call 1
        lddw %r1, 0x0102030405060708
        lsh %r1, 4
        {access}
        mov %r0, %r1
        exit"
    )
}

/// Every access the lookup tests make through `reg` (loads, stores and
/// atomics of every width, at offsets around each element's and the
/// area's ends), each given to `f`.
fn every_access(reg: &str, mut f: impl FnMut(String)) {
    for (width, suffix) in [(1, "b"), (2, "h"), (4, "w"), (8, "dw")] {
        for off in [
            -16,
            -9,
            -8,
            -1,
            0,
            1,
            4,
            8 - width,
            12 - width,
            13 - width,
            16 - width,
            48,
            64,
        ] {
            f(format!("ldx{suffix} %r1, [%{reg}{off:+}]"));
            f(format!("stx{suffix} [%{reg}{off:+}], %r1"));
            f(format!("st{suffix} [%{reg}{off:+}], -3"));
        }
    }
    for off in [-8, -4, -2, 0, 2, 4, 8, 12, 16, 56, 60, 64] {
        for op in [
            "lock add",
            "lock fetch or",
            "lock xchg",
            "lock cmpxchg",
            "lock add32",
            "lock fetch xor32",
            "lock xchg32",
            "lock cmpxchg32",
        ] {
            f(format!("{op} [%{reg}{off:+}], %r1"));
        }
    }
}

/// Loads, stores and atomics of every width through a lookup's result, at
/// offsets around each element's end and the area's end.
#[test]
fn accesses_through_a_lookup_agree_at_every_edge() {
    let keys = [0, 1, 2, 3, 4, 0xffff_ffff];
    let mut runs = 0;
    let mut faults = 0;
    for map in 0..4 {
        every_access("r0", |access| {
            faults += agree(&through_lookup(map, &access), &keys, &[0, 1]);
            runs += keys.len() * 2;
        });
    }
    // Both outcomes were compared many times.
    assert!(
        faults > runs / 4 && faults < runs * 3 / 4,
        "{faults} of {runs}"
    );
}

/// The lookup of [`through_lookup`], then a NULL check in one of the
/// shapes clang emits (the last with a second branch before the access),
/// then `access` where the result is not NULL (the
/// compiled tier proves such accesses inside the element when they fit:
/// `jit::elements`), through `r0` or the copy `r6`. In shape 2 the
/// access's block is also entered with r0 pointing into the stack, so
/// nothing may be proven there.
fn after_null_check(map: usize, shape: usize, access: &str) -> String {
    let lookup = format!(
        "
        ldxw %r3, [%r1+0]
        stxw [%r10-4], %r3
        mov %r6, %r3
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_fd:{map}
        call 1"
    );
    let check = match shape {
        // if (!v) return 7;
        0 => "jeq %r0, 0, +6",
        // if (!v || key == 77) return 7;
        3 => "jeq %r0, 0, +7\njeq %r6, 77, +6",
        // v2 = v; r0 = 0; if (v2) goto use; return 7;
        1 => "mov %r6, %r0\nmov %r0, 0\njne %r6, 0, +2\nmov %r0, 7\nexit",
        // if (v) goto use; v = stack - 16; use:
        _ => "jne %r0, 0, +2\nmov %r0, %r10\nadd %r0, -16",
    };
    let tail = if shape == 0 || shape == 3 {
        "\nmov %r0, 7\nexit"
    } else {
        ""
    };
    format!(
        "{lookup}
        {check}
        lddw %r1, 0x0102030405060708
        lsh %r1, 4
        {access}
        mov %r0, %r1
        exit{tail}"
    )
}

/// [`accesses_through_a_lookup_agree_at_every_edge`] after a NULL check.
#[test]
fn accesses_after_a_null_check_agree_at_every_edge() {
    let keys = [0, 1, 2, 3, 4, 0xffff_ffff];
    let mut runs = 0;
    let mut faults = 0;
    for map in 0..4 {
        for shape in 0..4 {
            let reg = if shape == 1 { "r6" } else { "r0" };
            every_access(reg, |access| {
                let text = after_null_check(map, shape, &access);
                faults += agree(&text, &keys, &[0, 1]);
                runs += keys.len() * 2;
            });
        }
    }
    assert!(
        faults > runs / 8 && faults < runs * 3 / 4,
        "{faults} of {runs}"
    );
}

/// Accesses through copies of r10 (the stack, predicted), inside the
/// program's stack window and past either end of it.
#[test]
fn accesses_through_a_copy_of_r10_agree_at_every_edge() {
    let mut faults = 0;
    for depth in [8, 16, 64, 512] {
        for (width, suffix) in [(1, "b"), (4, "w"), (8, "dw")] {
            for off in [-width - 1, -width, -1, 0, 1, 8, 512] {
                for access in [
                    format!("ldx{suffix} %r0, [%r3{off:+}]"),
                    format!("stx{suffix} [%r3{off:+}], %r1"),
                    format!("lock xchg [%r3{off:+}], %r1"),
                    format!("lock add32 [%r3{off:+}], %r1"),
                ] {
                    // The frame reaches `depth` bytes (the store at
                    // r10-depth), then the access is at r10 - depth + off.
                    let text = format!(
                        "
                        stb [%r10-{depth}], 1
                        mov %r3, %r10
                        add %r3, -{depth}
                        mov %r1, 0x55
                        mov %r0, 0
                        {access}
                        exit"
                    );
                    faults += agree(&text, &[0], &[0]);
                }
            }
        }
    }
    assert!(faults > 10, "{faults}");
}

/// Loads and stores through r1 over raw memory, for inputs shorter and
/// longer than the access, at offsets around both ends.
#[test]
fn accesses_to_the_input_agree_for_every_length() {
    let mut faults = 0;
    for (width, suffix) in [(1, "b"), (2, "h"), (4, "w"), (8, "dw")] {
        for off in [-1, 0, 1, 2, 7, 8] {
            for access in [
                format!("ldx{suffix} %r0, [%r1{off:+}]"),
                format!("stx{suffix} [%r1{off:+}], %r1"),
            ] {
                let text = format!("mov %r0, 0\n{access}\nexit");
                let interpreted = load(&text, &[], Tier::Interpreter);
                let compiled = load(&text, &[], Tier::Compiled);
                for len in 0..=(width + 9) as usize {
                    let mut a: Vec<u8> = (0..len as u8).collect();
                    let mut b = a.clone();
                    let ra = interpreted.run_with(&mut a, &mut RunContext::new());
                    let rb = compiled.run_with(&mut b, &mut RunContext::new());
                    assert_eq!(ra, rb, "length {len}\n{text}");
                    assert_eq!(a, b, "length {len}\n{text}");
                    faults += usize::from(ra.is_err());
                }
            }
        }
    }
    assert!(faults > 100, "{faults}");
}

/// Through the XDP context (read only) and the packet pointers loaded from
/// it or from `__sk_buff` (the packet writable for XDP and tc, not for a
/// cgroup_skb program): every width at the packet's and the context's edges.
#[test]
fn accesses_through_the_context_and_packet_pointers_agree() {
    let cases = [
        (ProgramKind::Xdp, 0, 4),
        (ProgramKind::Xdp, 8, 4),
        (ProgramKind::Tc, 76, 80),
        (ProgramKind::CgroupSkb, 76, 80),
    ];
    let mut faults = 0;
    for (kind, data, end) in cases {
        for (width, suffix) in [(1, "b"), (4, "w"), (8, "dw")] {
            for (base, off) in [
                (data, -1),
                (data, 0),
                (data, 13),
                (end, -width),
                (end, -width + 1),
                (end, 0),
            ] {
                for access in [
                    format!("ldx{suffix} %r0, [%r2{off:+}]"),
                    format!("stx{suffix} [%r2{off:+}], %r3"),
                    format!("st{suffix} [%r2{off:+}], 7"),
                ] {
                    let text = format!(
                        "mov %r3, 0x55\nmov %r0, 0\nldxw %r2, [%r1+{base}]\n{access}\nexit"
                    );
                    faults += agree_packet(&text, kind);
                }
            }
        }
        if kind == ProgramKind::Xdp {
            for (width, suffix) in [(1, "b"), (4, "w"), (8, "dw")] {
                for off in [-1, 0, 4, 20, 24 - width, 24 - width + 1] {
                    for access in [
                        format!("ldx{suffix} %r0, [%r1{off:+}]"),
                        format!("stx{suffix} [%r1{off:+}], %r3"),
                    ] {
                        let text = format!("mov %r3, 0x55\nmov %r0, 0\n{access}\nexit");
                        faults += agree_packet(&text, kind);
                    }
                }
            }
        }
    }
    assert!(faults > 50, "{faults}");
}

/// Runs `text` as a `kind` program in both tiers on packets of a few
/// lengths; compares the results and the packets left. Returns the faults.
fn agree_packet(text: &str, kind: ProgramKind) -> usize {
    let interpreted = load_kind(text, &[], kind, Tier::Interpreter);
    let compiled = load_kind(text, &[], kind, Tier::Compiled);
    let mut faults = 0;
    for len in [14, 15, 21, 64] {
        let packet: Vec<u8> = (0..len as u8).collect();
        let (mut a, mut b) = (packet.clone(), packet);
        let (mut ctx_a, mut ctx_b) = (RunContext::new(), RunContext::new());
        let ra = interpreted.run_with(&mut a, &mut ctx_a);
        let rb = compiled.run_with(&mut b, &mut ctx_b);
        assert_eq!(ra, rb, "{kind:?}, length {len}\n{text}");
        assert_eq!(
            ctx_a.packet.bytes(),
            ctx_b.packet.bytes(),
            "{kind:?}, length {len}\n{text}"
        );
        faults += usize::from(ra.is_err());
    }
    faults
}
