#!/usr/bin/env python3
"""Independent calculation of the figures in EXPECTED.md.

Each function mirrors the C of one test program line by line, in plain
Python integers masked to the C widths; nothing here runs BPF code. Map
entries print as the CLI's --json shows them: key and value as lowercase hex
of their bytes in memory order (little-endian), all-zero entries left out.
Run: python3 calc_expected.py
"""
import struct

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


def u64(v):
    return struct.pack("<Q", v & M64)


def u32(v):
    return struct.pack("<I", v & M32)


def key(i):
    return u32(i).hex()


def show(title, retval, maps):
    print(f"### {title}")
    print(f"retval {retval}")
    for name, entries in maps.items():
        nonzero = {k: v for k, v in sorted(entries.items()) if any(v)}
        print(f"  {name}:")
        for k, v in nonzero.items():
            print(f"    {key(k)}: {v.hex()}")
        if not nonzero:
            print("    (all zero)")
    print()


def seed_globals(runs):
    g = dict(lat_ave=0, lat_sum=0, missed=0, max_lat=0, num_samples=0)
    ret = None
    for _ in range(runs):
        for i in range(64):
            delta = 10 + ((i * 13) & 31)
            if delta > g["max_lat"]:
                g["max_lat"] = delta
            if g["lat_ave"] == 0:
                g["num_samples"] += 1
                g["lat_sum"] += delta
                if g["num_samples"] >= 100:
                    g["lat_ave"] = g["lat_sum"] // g["num_samples"]
            else:
                g["missed"] += 1
        ret = g["num_samples"]
    print("seed_globals fields after", runs, "runs:", g)
    value = (u64(g["lat_ave"]) + u64(g["lat_sum"]) + u64(g["missed"])
             + u64(g["max_lat"]) + u32(g["num_samples"]) + bytes(4))
    return ret, {"global_map": {0: value}}


def histogram(runs):
    hist = [0] * 16
    ret = None
    for _ in range(runs):
        x = 1
        misses = 0
        for _ in range(100):
            x = (x * 1103515245 + 12345) & M32
            bucket = (x >> 16) & 31
            if bucket < 16:
                hist[bucket] += 1
            else:
                misses += 1
        ret = misses
    print("histogram counts after", runs, "runs:", hist, "sum", sum(hist))
    return ret, {"hist": {i: u64(c) for i, c in enumerate(hist)}}


def default_packet():
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    ip = bytes([0x45, 0, 0, 50, 0, 0, 0, 0, 64, 6, 0, 0,
                10, 0, 0, 1, 10, 0, 0, 2])
    tcp = struct.pack(">HH", 12345, 80) + bytes(16)
    frame = eth + ip + tcp
    return frame + bytes(64 - len(frame))


def xdp_counter(runs, frame):
    outcome = [0] * 4
    proto_stats = {}
    dport_hits = {}
    ret = None

    def count(which):
        outcome[which] += 1

    for _ in range(runs):
        n = len(frame)
        if 14 > n:
            count(0)
            ret = 1
            continue
        if frame[12:14] != b"\x08\x00":
            count(1)
            ret = 2
            continue
        ihl = frame[14] & 15 if n >= 15 else None
        if 34 > n or ihl < 5:
            count(2)
            ret = 1
            continue
        count(3)
        proto = frame[23]
        rec = proto_stats.setdefault(proto, [0, 0, 0])
        rec[0] += 1
        rec[1] += n
        rec[2] += struct.unpack(">H", frame[16:18])[0]
        ret = 2
        if proto in (6, 17):
            ports = 14 + ihl * 4
            if ports + 4 > n:
                ret = 1
                continue
            dport = struct.unpack(">H", frame[ports + 2:ports + 4])[0]
            if dport < 1024:
                dport_hits[dport] = dport_hits.get(dport, 0) + 1
    return ret, {
        "outcome": {i: u64(c) for i, c in enumerate(outcome)},
        "proto_stats": {p: u64(r[0]) + u64(r[1]) + u64(r[2])
                        for p, r in proto_stats.items()},
        "dport_hits": {p: u64(c) for p, c in dport_hits.items()},
    }


def multi_maps(runs):
    counters = [0] * 4
    triples = [[0, 0, 0] for _ in range(3)]
    fives = [bytearray(5) for _ in range(2)]
    shorts = [0] * 5
    ret = None
    for _ in range(runs):
        counters[0] = (counters[0] + 1) & M64
        counters[3] = (counters[3] + 0x100) & M64
        t1, t2, f1 = triples[1], triples[2], fives[1]
        t1[1] ^= 0xff
        t1[0] = (t1[0] + 1) & M32
        t1[2] = (t1[0] * 3) & M32
        t2[2] = 0x01020304
        t2[0] = 0xdeadbeef
        f1[4] = 0x55
        f1[0] = (f1[0] + 1) & 0xff
        f1[2] = f1[0] ^ 0x0f
        shorts[4] = (shorts[4] - 1) & 0xffff
        ret = t1[0] + f1[0]
    return ret, {
        "counters": {i: u64(c) for i, c in enumerate(counters)},
        "triples": {i: u32(t[0]) + u32(t[1]) + u32(t[2])
                    for i, t in enumerate(triples)},
        "fives": {i: bytes(f) for i, f in enumerate(fives)},
        "shorts": {i: struct.pack("<H", s) for i, s in enumerate(shorts)},
    }


def bpf_calls(runs):
    sums = [0] * 4

    def mix(acc, i):
        return (acc * 31 + i) & M64

    def fold(n):
        acc = 1
        for i in range(n):
            acc = mix(acc, i)
        return acc

    def record(slot, val):
        if slot >= 4:
            return 0
        sums[slot] = (sums[slot] + val) & M64
        return 1

    ret = None
    for _ in range(runs):
        a = fold(10)
        b = fold(3)
        ok = record(0, a) + record(1, b) + record(9, a)
        ret = ok * 1000 + (b & 0xff)
    print("bpf_calls: fold(10) =", fold(10), "fold(3) =", fold(3))
    return ret, {"sums": {i: u64(s) for i, s in enumerate(sums)}}


def globals_data(runs):
    data_total, data_flag, data_local = 1000, 0x5A, 7
    ro_step, ro_table = 3, [10, 20, 30, 40]
    bss_runs, bss_last, bss_local = 0, 0, 0
    ret = None
    for _ in range(runs):
        bss_runs = (bss_runs + 1) & M64
        step = ro_step
        data_total = (data_total + step) & M64
        data_flag ^= 0xFF
        bss_last = ro_table[bss_runs & 3] & M32
        data_local = (data_local * 2) & M32
        bss_local = (bss_local + data_local) & M64
        ret = bss_last + step
    rodata = u32(ro_step) + bytes(4) + b"".join(u64(v) for v in ro_table)
    print("globals_data: data_total", data_total, "data_flag", hex(data_flag),
          "data_local", data_local, "bss_runs", bss_runs, "bss_last",
          bss_last, "bss_local", bss_local)
    return ret, {
        ".data": {0: u64(data_total) + u32(data_flag) + u32(data_local)},
        ".rodata": {0: rodata},
        ".bss": {0: u64(bss_runs) + u32(bss_last) + bytes(4) + u64(bss_local)},
    }


def btf_maps(runs):
    """count_arrays: the only program whose maps (two arrays) it uses."""
    counts = [0] * 8
    packets = bytes_ = 0
    ret = None
    for _ in range(runs):
        for k in range(8):
            counts[k] = (counts[k] + k * k + 1) & M64
        # counts[9] is past the end: NULL, so no early return.
        packets = (packets + 1) & M32
        bytes_ = (bytes_ + 64) & M32
        ret = (packets * 100 + bytes_ // 64) & M32
    return ret, {
        "counts": {k: u64(v) for k, v in enumerate(counts)},
        "pairs": {2: u32(packets) + u32(bytes_)},
    }


def btf_globals(runs):
    scale, offset, flags, mode, verbose, limit = 3, -2, 0x81, 5, 1, 100
    runs_, last, hist, total = 10, 0, [0] * 4, -5
    seen, local_hits = [0] * 3, 0
    ret = None
    for _ in range(runs):
        value = scale * 7 + offset
        runs_ += 1
        last = value
        hist[mode & 3] += 1
        total += value
        seen[runs_ % 3] = (seen[runs_ % 3] + flags) & M32
        local_hits += verbose
        ret = 0 if runs_ > limit else value + (flags & 0x0F)
    rodata = (u32(scale) + struct.pack("<hBB", offset, flags, mode | verbose << 3)
              + u32(limit))
    data = (u64(runs_) + u32(last) + b"".join(struct.pack("<H", h) for h in hist)
            + u64(total))
    return ret, {
        ".rodata": {0: rodata},
        ".data": {0: data},
        ".bss": {0: b"".join(u32(v) for v in seen) + bytes(4) + u64(local_hits)},
    }


def atomics(runs):
    s = dict.fromkeys(
        "runs or64 and64 xor64 xchg64 add64_nf or64_nf and64_nf xor64_nf "
        "add32 or32 and32 xor32 cas32 xchg32 add32_nf or32_nf and32_nf "
        "xor32_nf".split(), 0)
    f = dict.fromkeys(
        "or64 and64_cas and64 xor64 xchg64 add32 or32 and32 xor32 cas32 "
        "xchg32".split(), 0)
    ret = None
    for _ in range(runs):
        r = s["runs"]
        s["runs"] = (r + 1) & M64
        f["or64"] = s["or64"]
        s["or64"] |= 1 << ((5 * r) & 63)
        f["and64_cas"] = s["and64"]
        if s["and64"] == 0:
            s["and64"] = M64
        f["and64"] = s["and64"]
        s["and64"] &= ~(1 << (r & 63)) & M64
        f["xor64"] = s["xor64"]
        s["xor64"] ^= (r * 0x9E3779B97F4A7C15) & M64
        f["xchg64"] = s["xchg64"]
        s["xchg64"] = (r + 100) & M64
        s["add64_nf"] = (s["add64_nf"] + 0x100000001) & M64
        s["or64_nf"] |= 1 << ((3 * r) & 63)
        if s["and64_nf"] == 0:
            s["and64_nf"] = M64
        s["and64_nf"] &= ~(1 << ((r + 7) & 63)) & M64
        s["xor64_nf"] ^= (r << 40) & M64

        r32 = r & M32
        f["add32"] = s["add32"]
        s["add32"] = (s["add32"] + 0x10000001) & M32
        f["or32"] = s["or32"]
        s["or32"] |= 1 << (r32 & 31)
        if s["and32"] == 0:
            s["and32"] = M32
        f["and32"] = s["and32"]
        s["and32"] &= ~(1 << (r32 & 31)) & M32
        f["xor32"] = s["xor32"]
        s["xor32"] ^= (r32 * 3) & M32
        f["cas32"] = s["cas32"]
        if s["cas32"] == r32:
            s["cas32"] = (2 * r32 + 1) & M32
        f["xchg32"] = s["xchg32"]
        s["xchg32"] = r32 ^ 0xABCD
        s["add32_nf"] = (s["add32_nf"] + r32) & M32
        s["or32_nf"] |= 1 << ((7 * r32) & 31)
        s["and32_nf"] &= ~(1 << (r32 & 31)) & M32
        s["xor32_nf"] ^= 0x80000001
        ret = f["cas32"]
    print("atomics state after", runs, "runs:",
          {k: hex(v) for k, v in s.items()})
    print("atomics last after", runs, "runs:",
          {k: hex(v) for k, v in f.items()})
    state = b"".join(u64(s[k]) for k in list(s)[:9]) + b"".join(
        u32(s[k]) for k in list(s)[9:])
    last = b"".join(u64(f[k]) for k in list(f)[:5]) + b"".join(
        u32(f[k]) for k in list(f)[5:])
    return ret, {"state": {0: state}, "last": {0: last}}


def const_key_oob(runs):
    small = [0] * 4
    ret = None
    for _ in range(runs):
        ret = 0
        for k in (2, 3, 4, 0xFFFFFFFF):
            found = k < 4
            if k == 2 and found:
                small[2] = (small[2] + 1) & M64
                ret |= 1
            elif k == 3 and found:
                small[3] = 0x33
                ret |= 2
            elif k == 4 and not found:
                ret |= 4
            elif k == 0xFFFFFFFF and not found:
                ret |= 8
    return ret, {"small": {i: u64(v) for i, v in enumerate(small)}}


def update_delete(runs):
    EINVAL, E2BIG, EEXIST = 22, 7, 17
    target = [0] * 4
    results = [0] * 8

    def update(k, v, flags):
        if flags > 2:
            return -EINVAL
        if k >= 4:
            return -E2BIG
        if flags == 1:
            return -EEXIST
        target[k] = v
        return 0

    ret = None
    for _ in range(runs):
        got = [
            update(1, 0x1111, 0),
            update(1, 0x2222, 1),
            update(2, target[2] + 1, 2),
            update(0, 0x1111, 3),
            update(4, 0x1111, 0),
            update(4, 0x1111, 3),
            update(7, 0x1111, 1),
            -EINVAL,  # delete on an array
        ]
        want = [0, -17, 0, -22, -7, -22, -7, -22]
        results = got
        ret = sum(g == w for g, w in zip(got, want))
    return ret, {
        "target": {i: u64(v) for i, v in enumerate(target)},
        "results": {i: u64(v) for i, v in enumerate(results)},
    }


def main():
    for runs in (1, 1000):
        show(f"seed_globals x{runs}", *seed_globals(runs))
        show(f"histogram x{runs}", *histogram(runs))
        frame = default_packet()
        print("default packet:", frame.hex())
        show(f"xdp_counter default packet x{runs}", *xdp_counter(runs, frame))
        show(f"xdp_counter 10-byte x{runs}", *xdp_counter(runs, bytes(10)))
        show(f"xdp_counter first 20 bytes x{runs}",
             *xdp_counter(runs, frame[:20]))
        show(f"xdp_counter first 34 bytes x{runs}",
             *xdp_counter(runs, frame[:34]))
        show(f"multi_maps x{runs}", *multi_maps(runs))
        show(f"bpf_calls x{runs}", *bpf_calls(runs))
        show(f"globals_data x{runs}", *globals_data(runs))
        show(f"atomics x{runs}", *atomics(runs))
        show(f"const_key_oob x{runs}", *const_key_oob(runs))
        show(f"update_delete x{runs}", *update_delete(runs))
        show(f"btf_maps count_arrays x{runs}", *btf_maps(runs))
        show(f"btf_globals x{runs}", *btf_globals(runs))


if __name__ == "__main__":
    main()
