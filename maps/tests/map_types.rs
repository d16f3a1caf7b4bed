//! Every non-hash type against the kernel: per-CPU arrays, redirect maps,
//! program and perf event arrays, ring buffers, refused types, budgets.

use tinybpf_maps::errno::*;
use tinybpf_maps::ringbuf::*;
use tinybpf_maps::*;

fn def(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        map_type: map_type.as_u32(),
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    }
}

fn create(def: MapDef) -> Result<BpfMap, MapError> {
    BpfMap::create(def, &MapOptions::with_cpus(2))
}

fn errno(def: MapDef) -> i32 {
    create(def).unwrap_err().errno()
}

fn k(i: u32) -> [u8; 4] {
    i.to_le_bytes()
}

#[test]
fn refused_and_unknown_types_name_themselves() {
    for t in [
        MapType::ArrayOfMaps,
        MapType::HashOfMaps,
        MapType::Sockmap,
        MapType::StackTrace,
        MapType::LpmTrie,
    ] {
        let err = create(def(t, 4, 4, 1)).unwrap_err();
        assert_eq!(err.errno(), EINVAL);
        assert!(err.to_string().contains(t.name()), "{err}");
    }
    let err = create(def(MapType::Hash, 4, 4, 1)).map(drop);
    assert!(err.is_ok());
    let unknown = MapDef {
        map_type: 99,
        ..def(MapType::Hash, 4, 4, 1)
    };
    assert_eq!(errno(unknown), EINVAL);
    assert_eq!(errno(def(MapType::Unspec, 4, 4, 1)), EINVAL);
    assert_eq!(
        errno(def(MapType::Hash, 4, 4, 1).with_flags(BPF_F_RDONLY | BPF_F_WRONLY)),
        EINVAL
    );
}

#[test]
fn percpu_array_format_flags_and_program_slices() {
    let t = MapType::PercpuArray;
    assert_eq!(errno(def(t, 4, 8, 0)), EINVAL);
    assert_eq!(errno(def(t, 8, 8, 1)), EINVAL);
    assert_eq!(errno(def(t, 4, 0, 1)), EINVAL);
    assert_eq!(errno(def(t, 4, 8, 1).with_flags(BPF_F_MMAPABLE)), EINVAL);
    assert_eq!(errno(def(t, 4, 8, 1).with_flags(BPF_F_NUMA_NODE)), EINVAL);
    assert_eq!(
        errno(def(t, 4, 8, 1).with_flags(BPF_F_PRESERVE_ELEMS)),
        EINVAL
    );
    assert_eq!(errno(def(t, 4, 32769, 1)), E2BIG);
    let map = create(def(t, 4, 12, 3)).unwrap();
    assert_eq!(map.user_value_size(), 2 * 16);
    assert_eq!(
        map.lookup(&k(1)).unwrap(),
        vec![0; 32],
        "zeroed at creation"
    );
    let mut value = vec![0u8; 32];
    value[..12].copy_from_slice(&[1; 12]);
    value[16..28].copy_from_slice(&[2; 12]);
    map.update(&k(1), &value, BPF_ANY).unwrap();
    assert_eq!(map.lookup(&k(1)).unwrap(), value);
    assert_eq!(
        map.lookup_percpu(&k(1)).unwrap(),
        vec![vec![1; 12], vec![2; 12]]
    );
    assert_eq!(map.update(&k(1), &value, 3).unwrap_err().errno(), EINVAL);
    assert_eq!(
        map.update(&k(3), &value, BPF_ANY).unwrap_err().errno(),
        E2BIG
    );
    assert_eq!(
        map.update(&k(1), &value, BPF_NOEXIST).unwrap_err().errno(),
        EEXIST
    );
    map.update(&k(1), &value, BPF_EXIST).unwrap();
    assert_eq!(
        map.update(&k(1), &value[..16], 0).unwrap_err().errno(),
        EINVAL
    );
    assert_eq!(map.delete(&k(1)).unwrap_err().errno(), EINVAL);
    assert_eq!(map.lookup(&k(3)).unwrap_err().errno(), ENOENT);
    assert_eq!(map.get_next_key(None).unwrap(), k(0));
    assert_eq!(map.get_next_key(Some(&k(2))).unwrap_err().errno(), ENOENT);
    // Programs: each CPU its own slice of identical layout, one offset.
    let offset = map.lookup_for_program(&k(2), 1).unwrap();
    assert_eq!(offset, 32);
    map.update_from_program(&k(2), &[7; 12], BPF_ANY, 1)
        .unwrap();
    assert_eq!(
        map.lookup_percpu_elem(&k(2), 1).unwrap().unwrap(),
        vec![7; 12]
    );
    assert_eq!(
        map.lookup_percpu_elem(&k(2), 0).unwrap().unwrap(),
        vec![0; 12]
    );
    assert_eq!(map.lookup_percpu_elem(&k(2), 2).unwrap(), None);
    let (a, _) = map.program_region(0).unwrap();
    let (b, len) = map.program_region(1).unwrap();
    assert_eq!(len, 48);
    assert!(
        b.as_ptr() as usize - a.as_ptr() as usize >= PAGE_SIZE,
        "CPUs on separate pages"
    );
    assert!(map.program_region(2).is_none());
    assert_eq!(map.entries().count(), 3);
    assert!(map.as_array().is_none());
}

#[test]
fn devmap_rules() {
    let t = MapType::Devmap;
    assert_eq!(errno(def(t, 4, 4, 0)), EINVAL);
    assert_eq!(errno(def(t, 8, 4, 1)), EINVAL);
    assert_eq!(errno(def(t, 4, 6, 1)), EINVAL);
    assert_eq!(errno(def(t, 4, 4, 1).with_flags(BPF_F_MMAPABLE)), EINVAL);
    let map = create(def(t, 4, 8, 4)).unwrap();
    assert_ne!(
        map.def().map_flags & BPF_F_RDONLY_PROG,
        0,
        "the kernel adds BPF_F_RDONLY_PROG"
    );
    let val = |ifindex: u32, fd: i32| {
        let mut v = ifindex.to_le_bytes().to_vec();
        v.extend(fd.to_le_bytes());
        v
    };
    assert_eq!(map.lookup(&k(0)).unwrap_err().errno(), ENOENT, "empty slot");
    assert_eq!(map.redirect_target(0), None);
    assert_eq!(
        map.update(&k(0), &val(3, 0), 3).unwrap_err().errno(),
        EINVAL
    );
    assert_eq!(map.update(&k(4), &val(3, 0), 0).unwrap_err().errno(), E2BIG);
    assert_eq!(
        map.update(&k(0), &val(3, 0), BPF_NOEXIST)
            .unwrap_err()
            .errno(),
        EEXIST
    );
    assert_eq!(
        map.update(&k(0), &val(0, 5), 0).unwrap_err().errno(),
        EINVAL
    );
    map.update(&k(0), &val(3, -1), BPF_ANY).unwrap();
    assert_eq!(map.lookup(&k(0)).unwrap(), val(3, 0));
    assert_eq!(map.redirect_target(0), Some(3));
    assert_eq!(map.redirect_target(9), None);
    let offset = map.lookup_for_program(&k(0), 0).unwrap();
    assert_eq!(offset, 0);
    assert_eq!(map.lookup_for_program(&k(1), 0), None);
    // ifindex 0 empties the slot.
    map.update(&k(0), &val(0, 0), BPF_ANY).unwrap();
    assert_eq!(map.redirect_target(0), None);
    map.update(&k(2), &val(5, 9), BPF_EXIST).unwrap();
    assert_eq!(map.lookup(&k(2)).unwrap(), val(5, 9));
    assert_eq!(map.delete(&k(4)).unwrap_err().errno(), EINVAL);
    map.delete(&k(2)).unwrap();
    map.delete(&k(2)).unwrap();
    assert_eq!(
        map.get_next_key(Some(&k(1))).unwrap(),
        k(2),
        "array order, empty slots too"
    );
    assert_eq!(
        map.check_program_op(ProgramOp::Update).unwrap_err().errno(),
        EINVAL
    );
    map.check_program_op(ProgramOp::RedirectMap).unwrap();
    map.check_program_op(ProgramOp::Lookup).unwrap();
}

#[test]
fn devmap_hash_rules() {
    let t = MapType::DevmapHash;
    let map = create(def(t, 4, 4, 2)).unwrap();
    assert_eq!(
        map.update(&k(10), &k(0), 0).unwrap_err().errno(),
        EINVAL,
        "ifindex 0"
    );
    assert_eq!(map.update(&k(10), &k(1), 4).unwrap_err().errno(), EINVAL);
    map.update(&k(10), &k(1), BPF_EXIST).unwrap();
    assert_eq!(
        map.update(&k(10), &k(2), BPF_NOEXIST).unwrap_err().errno(),
        EEXIST
    );
    map.update(&k(10), &k(2), BPF_ANY).unwrap();
    map.update(&k(20), &k(3), BPF_ANY).unwrap();
    assert_eq!(
        map.update(&k(30), &k(4), BPF_ANY).unwrap_err().errno(),
        E2BIG
    );
    assert_eq!(map.redirect_target(10), Some(2));
    assert_eq!(map.redirect_target(20), Some(3));
    assert_eq!(map.redirect_target(0), None);
    assert_eq!(map.lookup(&k(20)).unwrap(), k(3));
    let mut keys: Vec<_> = map.entries().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, [k(10).to_vec(), k(20).to_vec()]);
    let first = map.get_next_key(None).unwrap();
    assert_eq!(map.get_next_key(Some(&k(99))).unwrap(), first);
    map.delete(&k(10)).unwrap();
    assert_eq!(map.delete(&k(10)).unwrap_err().errno(), ENOENT);
    assert_eq!(map.lookup(&k(10)).unwrap_err().errno(), ENOENT);
}

#[test]
fn cpumap_rules() {
    let t = MapType::Cpumap;
    assert_eq!(errno(def(t, 4, 12, 1)), EINVAL);
    assert_eq!(errno(def(t, 4, 4, 1).with_flags(BPF_F_RDONLY)), EINVAL);
    assert_eq!(errno(def(t, 4, 4, NR_CPUS + 1)), E2BIG);
    let map = create(def(t, 4, 4, 4)).unwrap();
    assert_eq!(map.update(&k(0), &k(192), 3).unwrap_err().errno(), EINVAL);
    assert_eq!(map.update(&k(4), &k(192), 0).unwrap_err().errno(), E2BIG);
    assert_eq!(
        map.update(&k(0), &k(192), BPF_NOEXIST).unwrap_err().errno(),
        EEXIST
    );
    assert_eq!(
        map.update(&k(0), &k(16385), 0).unwrap_err().errno(),
        EOVERFLOW
    );
    assert_eq!(
        map.update(&k(3), &k(192), 0).unwrap_err().errno(),
        ENODEV,
        "2 possible CPUs"
    );
    map.update(&k(1), &k(192), 0).unwrap();
    assert_eq!(map.lookup(&k(1)).unwrap(), k(192));
    assert_eq!(map.redirect_target(1), Some(1));
    assert_eq!(map.redirect_target(0), None);
    map.update(&k(1), &k(0), 0).unwrap();
    assert_eq!(map.redirect_target(1), None, "qsize 0 empties the entry");
    assert_eq!(map.delete(&k(4)).unwrap_err().errno(), EINVAL);
    map.delete(&k(1)).unwrap();
    assert_eq!(map.lookup_for_program(&k(1), 0), None);
    assert_eq!(
        map.check_program_op(ProgramOp::Lookup).unwrap_err().errno(),
        EINVAL
    );
}

#[test]
fn xskmap_rules() {
    let t = MapType::Xskmap;
    assert_eq!(errno(def(t, 4, 8, 1)), EINVAL);
    let map = create(def(t, 4, 4, 2)).unwrap();
    assert_eq!(
        map.update(&k(0), &k(5), BPF_EXIST).unwrap_err().errno(),
        ENOENT
    );
    map.update(&k(0), &k(5), BPF_NOEXIST).unwrap();
    assert_eq!(
        map.update(&k(0), &k(6), BPF_NOEXIST).unwrap_err().errno(),
        EEXIST
    );
    assert_eq!(map.update(&k(2), &k(6), 0).unwrap_err().errno(), E2BIG);
    assert_eq!(map.lookup(&k(0)).unwrap_err().errno(), EOPNOTSUPP);
    assert_eq!(map.redirect_target(0), Some(5));
    assert_eq!(map.lookup_for_program(&k(0), 0), Some(0));
    assert_eq!(map.delete(&k(2)).unwrap_err().errno(), EINVAL);
    map.delete(&k(1)).unwrap();
    map.delete(&k(0)).unwrap();
    assert_eq!(map.redirect_target(0), None);
}

#[test]
fn prog_array_rules() {
    let t = MapType::ProgArray;
    assert_eq!(errno(def(t, 4, 8, 1)), EINVAL);
    assert_eq!(errno(def(t, 4, 4, 1).with_flags(BPF_F_RDONLY_PROG)), EINVAL);
    assert_eq!(errno(def(t, 4, 4, 0)), EINVAL);
    assert_eq!(errno(def(t, 8, 4, 1)), EINVAL);
    let map = create(def(t, 4, 4, 3)).unwrap();
    assert_eq!(
        map.update(&k(0), &k(7), BPF_NOEXIST).unwrap_err().errno(),
        EINVAL
    );
    assert_eq!(
        map.update(&k(0), &k(7), BPF_EXIST).unwrap_err().errno(),
        EINVAL
    );
    assert_eq!(
        map.update(&k(3), &k(7), BPF_ANY).unwrap_err().errno(),
        E2BIG
    );
    assert_eq!(map.lookup(&k(0)).unwrap_err().errno(), ENOENT);
    assert_eq!(map.tail_call_target(0), None);
    map.update(&k(0), &k(7), BPF_ANY).unwrap();
    assert_eq!(map.lookup(&k(0)).unwrap(), k(7));
    assert_eq!(map.tail_call_target(0), Some(7));
    assert_eq!(map.tail_call_target(3), None);
    assert_eq!(map.delete(&k(3)).unwrap_err().errno(), E2BIG);
    map.delete(&k(0)).unwrap();
    assert_eq!(map.delete(&k(0)).unwrap_err().errno(), ENOENT);
    assert_eq!(map.tail_call_target(0), None);
    assert_eq!(map.lookup_for_program(&k(0), 0), None);
    assert_eq!(
        map.check_program_op(ProgramOp::Lookup).unwrap_err().errno(),
        EINVAL
    );
    map.check_program_op(ProgramOp::TailCall).unwrap();
    assert_eq!(map.get_next_key(Some(&k(0))).unwrap(), k(1));
}

#[test]
fn perf_event_array_output_and_padding() {
    let t = MapType::PerfEventArray;
    let map = BpfMap::create(
        def(t, 4, 4, 0),
        &MapOptions {
            possible_cpus: 2,
            memory: None,
            perf_buffer_bytes: 64,
        },
    )
    .unwrap();
    assert_eq!(
        map.def().max_entries,
        2,
        "max_entries 0 means the possible CPUs"
    );
    assert_eq!(errno(def(t, 4, 4, 1).with_flags(BPF_F_MMAPABLE)), EINVAL);
    assert!(create(def(t, 4, 4, 1).with_flags(BPF_F_PRESERVE_ELEMS)).is_ok());
    assert_eq!(map.lookup(&k(0)).unwrap_err().errno(), ENOTSUPP);
    let current = BPF_F_CURRENT_CPU_FLAG;
    assert_eq!(
        map.perf_event_output(0, 1 << 60, &[1], &[])
            .unwrap_err()
            .errno(),
        EINVAL
    );
    assert_eq!(
        map.perf_event_output(0, 1 << 31, &[1], &[])
            .unwrap_err()
            .errno(),
        E2BIG
    );
    assert_eq!(
        map.perf_event_output(0, 2, &[1], &[]).unwrap_err().errno(),
        E2BIG
    );
    assert_eq!(
        map.perf_event_output(0, current, &[1], &[])
            .unwrap_err()
            .errno(),
        ENOENT
    );
    assert_eq!(map.perf_attach_all().unwrap(), 2);
    assert_eq!(
        map.perf_event_output(0, 1, &[1], &[]).unwrap_err().errno(),
        EOPNOTSUPP
    );
    map.perf_event_output(1, current, &[1, 2, 3, 4, 5], &[])
        .unwrap();
    map.perf_event_output(0, 0, &[9], &[8, 7]).unwrap();
    // 64 bytes: the sample of 5 took 8 + 4 + 12 = 24 on CPU 1; 40 left for
    // one more of at most 28 bytes.
    map.perf_event_output(1, current, &[0; 20], &[]).unwrap();
    assert_eq!(
        map.perf_event_output(1, current, &[0; 1], &[])
            .unwrap_err()
            .errno(),
        ENOSPC
    );
    let mut events = Vec::new();
    map.perf_drain(&mut |e| events.push(e)).unwrap();
    assert_eq!(
        events,
        [
            PerfEvent::Sample {
                cpu: 0,
                data: vec![9, 8, 7, 0]
            },
            PerfEvent::Lost { cpu: 1, count: 1 },
            PerfEvent::Sample {
                cpu: 1,
                data: vec![1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0]
            },
            PerfEvent::Sample {
                cpu: 1,
                data: vec![0; 20]
            },
        ]
    );
    map.delete(&k(1)).unwrap();
    assert_eq!(
        map.perf_event_output(1, current, &[1], &[])
            .unwrap_err()
            .errno(),
        ENOENT
    );
    assert_eq!(
        map.update(&k(1), &k(1), BPF_EXIST).unwrap_err().errno(),
        EINVAL
    );
}

const BPF_F_CURRENT_CPU_FLAG: u64 = 0xffff_ffff;

fn ring(size: u32) -> BpfMap {
    create(def(MapType::Ringbuf, 0, 0, size)).unwrap()
}

#[test]
fn ringbuf_creation_and_accounting() {
    let t = MapType::Ringbuf;
    assert_eq!(errno(def(t, 0, 0, 0)), EINVAL);
    assert_eq!(errno(def(t, 0, 0, 3 * 4096)), EINVAL, "not a power of two");
    assert_eq!(errno(def(t, 0, 0, 2048)), EINVAL, "not page-aligned");
    assert_eq!(errno(def(t, 4, 0, 4096)), EINVAL);
    assert_eq!(errno(def(t, 0, 4, 4096)), EINVAL);
    assert_eq!(errno(def(t, 0, 0, 4096).with_flags(BPF_F_MMAPABLE)), EINVAL);
    let map = ring(4096);
    assert_eq!(map.lookup(&[]).unwrap_err().errno(), ENOTSUPP);
    assert_eq!(map.update(&[], &[], 0).unwrap_err().errno(), ENOTSUPP);
    assert_eq!(map.get_next_key(None).unwrap_err().errno(), ENOTSUPP);
    assert_eq!(map.ringbuf_query(BPF_RB_RING_SIZE).unwrap(), 4096);
    assert_eq!(map.ringbuf_reserve(8, 1), None, "flags must be 0");
    assert_eq!(map.ringbuf_reserve(4096, 0), None, "larger than the ring");
    let a = map.ringbuf_reserve(5, 0).unwrap();
    assert_eq!(map.ringbuf_query(BPF_RB_AVAIL_DATA).unwrap(), 16);
    let b = map.ringbuf_reserve(16, 0).unwrap();
    assert_eq!(map.ringbuf_query(BPF_RB_PROD_POS).unwrap(), 40);
    let (start, _) = map.program_region(0).unwrap();
    // SAFETY: the reserved areas are inside the live region.
    unsafe {
        shared_mem::copy_in(start.as_ptr().add(a), &[1, 2, 3, 4, 5]);
        shared_mem::copy_in(start.as_ptr().add(b), &[7; 16]);
    }
    // B committed first waits for A: records come in ring order.
    map.ringbuf_commit(b, false).unwrap();
    let mut got: Vec<Vec<u8>> = Vec::new();
    assert_eq!(
        map.ringbuf_consume(&mut |r| got.push(r.to_vec())).unwrap(),
        0
    );
    map.ringbuf_commit(a, false).unwrap();
    assert_eq!(
        map.ringbuf_commit(a, false).unwrap_err().errno(),
        EINVAL,
        "already committed"
    );
    map.ringbuf_output(&[9, 9], 0).unwrap();
    let c = map.ringbuf_reserve(1, 0).unwrap();
    map.ringbuf_commit(c, true).unwrap();
    assert_eq!(
        map.ringbuf_query(BPF_RB_AVAIL_DATA).unwrap(),
        16 + 24 + 16 + 16,
        "discarded counted"
    );
    assert_eq!(map.ringbuf_output(&[1], 4).unwrap_err().errno(), EINVAL);
    map.ringbuf_consume(&mut |r| got.push(r.to_vec())).unwrap();
    assert_eq!(got, [vec![1, 2, 3, 4, 5], vec![7; 16], vec![9, 9]]);
    assert_eq!(map.ringbuf_query(BPF_RB_AVAIL_DATA).unwrap(), 0);
    assert_eq!(map.ringbuf_query(BPF_RB_CONS_POS).unwrap(), 72);
    assert_eq!(map.ringbuf_query(99).unwrap(), 0);
}

#[test]
fn ringbuf_fills_wraps_and_stays_contiguous() {
    let map = ring(4096);
    // 4088 data bytes + 8 header = 4096 = the whole ring: too much (the
    // producer may not get size - 1 or more ahead).
    assert_eq!(map.ringbuf_reserve(4088, 0), None);
    let big = map.ringbuf_reserve(4080, 0).unwrap();
    assert_eq!(map.ringbuf_reserve(1, 0), None, "no room");
    assert_eq!(map.ringbuf_output(&[1], 0).unwrap_err().errno(), EAGAIN);
    map.ringbuf_commit(big, true).unwrap();
    assert_eq!(
        map.ringbuf_consume(&mut |_| panic!("discarded records are never delivered"))
            .unwrap(),
        0
    );
    // Now at position 4088: a 40-byte record wraps past the end.
    let wrapped = map.ringbuf_reserve(40, 0).unwrap();
    assert_eq!(wrapped, 4096, "header at 4088, data in the second half");
    let (start, len) = map.program_region(0).unwrap();
    assert_eq!(len, 8192);
    let data: Vec<u8> = (0..40).collect();
    // SAFETY: the record area is inside the region.
    unsafe { shared_mem::copy_in(start.as_ptr().add(wrapped), &data) };
    map.ringbuf_commit(wrapped, false).unwrap();
    let mut got = Vec::new();
    map.ringbuf_consume(&mut |r| got.push(r.to_vec())).unwrap();
    assert_eq!(got, [data]);
    // Many records around the ring.
    for round in 0u32..500 {
        let payload = round.to_le_bytes().repeat((round % 7 + 1) as usize);
        map.ringbuf_output(&payload, BPF_RB_NO_WAKEUP).unwrap();
        let mut seen = Vec::new();
        map.ringbuf_consume(&mut |r| seen.push(r.to_vec())).unwrap();
        assert_eq!(seen, [payload]);
    }
}

#[test]
fn memory_budget_charges_and_releases() {
    let budget = MemoryBudget::new(64 * 1024);
    let options = MapOptions::with_cpus(2).with_budget(budget.clone());
    let a = BpfMap::create(def(MapType::Hash, 4, 8, 100), &options).unwrap();
    assert_eq!(budget.used(), a.reserved_bytes());
    assert!(a.reserved_bytes() >= 100 * 8, "{}", a.reserved_bytes());
    let p = BpfMap::create(def(MapType::PercpuArray, 4, 8, 10), &options).unwrap();
    assert_eq!(
        p.reserved_bytes(),
        2 * PAGE_SIZE as u64,
        "a page per CPU slice"
    );
    let err = BpfMap::create(def(MapType::Array, 4, 8, 100_000), &options).unwrap_err();
    assert_eq!(err.errno(), ENOMEM);
    let err = BpfMap::create(def(MapType::Ringbuf, 0, 0, 1 << 16), &options).unwrap_err();
    assert_eq!(err.errno(), ENOMEM);
    let clone = a.clone();
    drop(a);
    assert!(budget.used() > 0, "a clone keeps the map");
    drop(clone);
    drop(p);
    assert_eq!(budget.used(), 0);
    let array = BpfMap::create(def(MapType::Array, 4, 8, 16), &options).unwrap();
    assert_eq!(budget.used(), 128);
    assert!(array.as_array().is_some());
}

#[test]
fn user_access_flags_and_freeze() {
    let ro = create(def(MapType::Hash, 4, 4, 2).with_flags(BPF_F_RDONLY)).unwrap();
    assert_eq!(ro.update(&k(0), &k(0), 0).unwrap_err().errno(), EPERM);
    assert_eq!(ro.delete(&k(0)).unwrap_err().errno(), EPERM);
    assert_eq!(ro.lookup(&k(0)).unwrap_err().errno(), ENOENT);
    let wo = create(def(MapType::Hash, 4, 4, 2).with_flags(BPF_F_WRONLY)).unwrap();
    wo.update(&k(0), &k(0), 0).unwrap();
    assert_eq!(wo.lookup(&k(0)).unwrap_err().errno(), EPERM);
    let map = create(def(MapType::Hash, 4, 4, 2)).unwrap();
    map.update(&k(0), &k(1), 0).unwrap();
    map.freeze().unwrap();
    assert!(map.is_frozen());
    assert_eq!(map.freeze().unwrap_err().errno(), EBUSY);
    assert_eq!(map.update(&k(0), &k(2), 0).unwrap_err().errno(), EPERM);
    assert_eq!(map.delete(&k(0)).unwrap_err().errno(), EPERM);
    map.update_from_program(&k(0), &k(3), 0, 0).unwrap();
    assert_eq!(
        map.lookup(&k(0)).unwrap(),
        k(3),
        "programs still write a frozen map"
    );
}

#[test]
fn map_flags_render() {
    assert_eq!(
        map_flags_names(BPF_F_NO_PREALLOC | BPF_F_MMAPABLE | (1 << 31)),
        "BPF_F_NO_PREALLOC | BPF_F_MMAPABLE | 0x80000000"
    );
}
