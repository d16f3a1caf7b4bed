/* Exercises the command line's output rather than the VM: two trace_printk
 * lines per run, a 4096-entry map with two non-zero entries (its runs of
 * zero entries collapse), 1 KB values (byte offsets), a map whose 16384
 * entries are all non-zero (a table far longer than a pipe's buffer), and a
 * map flag.
 *
 * After N runs: sparse[5] = N, sparse[4000] = 2 N; wide[1] holds N at byte
 * offset 0 and 3 N at offset 1000, wide[0] stays zero; filled[i] = i + 1.
 * The program returns N. The input memory is not read. */
#include "common.h"

struct bpf_map_def SEC("maps") sparse = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4096,
	.map_flags = BPF_F_MMAPABLE,
};

struct bpf_map_def SEC("maps") wide = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 1024,
	.max_entries = 2,
};

struct bpf_map_def SEC("maps") filled = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 16384,
};

SEC("socket")
int cli_output(void *ctx)
{
	__u32 k5 = 5, k4000 = 4000, k1 = 1;
	__u64 runs = 0;
	__u64 *v;
	__u8 *w;

	v = bpf_map_lookup_elem(&sparse, &k5);
	if (v)
		runs = ++*v;
	v = bpf_map_lookup_elem(&sparse, &k4000);
	if (v)
		*v += 2;
	w = bpf_map_lookup_elem(&wide, &k1);
	if (w) {
		*(__u64 *)w = runs;
		*(__u64 *)(w + 1000) = 3 * runs;
	}
	for (__u32 i = 0; i < 16384; i++) {
		__u32 key = i;

		v = bpf_map_lookup_elem(&filled, &key);
		if (v)
			*v = i + 1;
	}
	bpf_printk("run %llu", runs);
	bpf_printk("second line");
	return runs;
}
