/* Atomic read-modify-write on map values, 64- and 32-bit: add, or, and, xor
 * both with the old value used (BPF_FETCH forms) and unused (plain forms),
 * compare-and-swap (cmpxchg) and exchange (xchg). The old values fetched in
 * the latest run are stored in the map 'last'. Built with -mcpu=v3 (see
 * build.sh). The input memory is not read.
 *
 * With r the 0-based run number (the old value of state.runs), one run does:
 *   runs       fetch_add 1
 *   or64       fetch_or  1 << ((5 * r) & 63)
 *   and64      cmpxchg(0 -> all ones), then fetch_and ~(1 << (r & 63))
 *   xor64      fetch_xor r * 0x9e3779b97f4a7c15
 *   xchg64     xchg      r + 100
 *   add64_nf   add       0x100000001
 *   or64_nf    or        1 << ((3 * r) & 63)
 *   and64_nf   set to all ones if 0 (plain load and store),
 *              then and ~(1 << ((r + 7) & 63))
 *   xor64_nf   xor       r << 40
 *   add32      fetch_add 0x10000001
 *   or32       fetch_or  1 << (r & 31)
 *   and32      set to 0xffffffff if 0 (plain load and store),
 *              then fetch_and ~(1 << (r & 31))
 *   xor32      fetch_xor r * 3
 *   cas32      cmpxchg(r -> 2 * r + 1)
 *   xchg32     xchg      r ^ 0xabcd
 *   add32_nf   add       r
 *   or32_nf    or        1 << ((7 * r) & 31)
 *   and32_nf   and       ~(1 << (r & 31)) (starts at 0, so stays 0)
 *   xor32_nf   xor       0x80000001
 * (all 32-bit arithmetic on r32 = low 32 bits of r).
 * Returns the old value of cas32. */
#include "common.h"

struct state {
	__u64 runs;
	__u64 or64;
	__u64 and64;
	__u64 xor64;
	__u64 xchg64;
	__u64 add64_nf;
	__u64 or64_nf;
	__u64 and64_nf;
	__u64 xor64_nf;
	__u32 add32;
	__u32 or32;
	__u32 and32;
	__u32 xor32;
	__u32 cas32;
	__u32 xchg32;
	__u32 add32_nf;
	__u32 or32_nf;
	__u32 and32_nf;
	__u32 xor32_nf;
};

/* Old values returned by the fetching operations of the latest run. */
struct fetched {
	__u64 or64;
	__u64 and64_cas;
	__u64 and64;
	__u64 xor64;
	__u64 xchg64;
	__u32 add32;
	__u32 or32;
	__u32 and32;
	__u32 xor32;
	__u32 cas32;
	__u32 xchg32;
};

struct bpf_map_def SEC("maps") state = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct state),
	.max_entries = 1,
};

struct bpf_map_def SEC("maps") last = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct fetched),
	.max_entries = 1,
};

SEC("socket")
int atomics(void *ctx)
{
	__u32 zero = 0;
	struct state *s = bpf_map_lookup_elem(&state, &zero);
	struct fetched *f = bpf_map_lookup_elem(&last, &zero);

	if (!s || !f)
		return -1;

	__u64 r = __sync_fetch_and_add(&s->runs, 1);

	f->or64 = __sync_fetch_and_or(&s->or64, 1ULL << ((5 * r) & 63));
	f->and64_cas = __sync_val_compare_and_swap(&s->and64, 0, ~0ULL);
	f->and64 = __sync_fetch_and_and(&s->and64, ~(1ULL << (r & 63)));
	f->xor64 = __sync_fetch_and_xor(&s->xor64, r * 0x9e3779b97f4a7c15ULL);
	f->xchg64 = __sync_lock_test_and_set(&s->xchg64, r + 100);

	__sync_fetch_and_add(&s->add64_nf, 0x100000001ULL);
	__sync_fetch_and_or(&s->or64_nf, 1ULL << ((3 * r) & 63));
	if (s->and64_nf == 0)
		s->and64_nf = ~0ULL;
	__sync_fetch_and_and(&s->and64_nf, ~(1ULL << ((r + 7) & 63)));
	__sync_fetch_and_xor(&s->xor64_nf, r << 40);

	__u32 r32 = (__u32)r;

	f->add32 = __sync_fetch_and_add(&s->add32, 0x10000001u);
	f->or32 = __sync_fetch_and_or(&s->or32, 1u << (r32 & 31));
	if (s->and32 == 0)
		s->and32 = 0xffffffffu;
	f->and32 = __sync_fetch_and_and(&s->and32, ~(1u << (r32 & 31)));
	f->xor32 = __sync_fetch_and_xor(&s->xor32, r32 * 3);
	f->cas32 = __sync_val_compare_and_swap(&s->cas32, r32, 2 * r32 + 1);
	f->xchg32 = __sync_lock_test_and_set(&s->xchg32, r32 ^ 0xabcd);

	__sync_fetch_and_add(&s->add32_nf, r32);
	__sync_fetch_and_or(&s->or32_nf, 1u << ((7 * r32) & 31));
	__sync_fetch_and_and(&s->and32_nf, ~(1u << (r32 & 31)));
	__sync_fetch_and_xor(&s->xor32_nf, 0x80000001u);

	return f->cas32;
}

char _license[] SEC("license") = "GPL";
