/* BPF-to-BPF calls: the program calls out-of-line static functions that
 * clang places in .text; fold() calls mix() (a call inside .text), and
 * record() writes a map from .text (a map reference relocated in .text).
 * The input memory is not read. */
#include "common.h"

struct bpf_map_def SEC("maps") sums = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

NOINLINE __u64 mix(__u64 acc, __u64 i)
{
	return acc * 31 + i;
}

/* mix() applied to 0, 1, ..., n - 1, starting from acc = 1. */
NOINLINE __u64 fold(__u64 n)
{
	__u64 acc = 1;

	for (__u64 i = 0; i < n; i++)
		acc = mix(acc, i);
	return acc;
}

/* Adds val to sums[slot]; returns 1 if the slot exists, 0 if not. */
NOINLINE int record(__u32 slot, __u64 val)
{
	__u64 *sum = bpf_map_lookup_elem(&sums, &slot);

	if (!sum)
		return 0;
	*sum += val;
	return 1;
}

SEC("socket")
int bpf_calls(void *ctx)
{
	__u64 a = fold(10);
	__u64 b = fold(3);
	int ok = 0;

	ok += record(0, a);
	ok += record(1, b);
	ok += record(9, a); /* out of range: not recorded */
	return ok * 1000 + (int)(b & 0xff);
}

char _license[] SEC("license") = "GPL";
