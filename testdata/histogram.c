/* Run-time keys: 100 values from a 32-bit linear congruential generator
 * (x = x * 1103515245 + 12345, starting from x = 1 on every run) are sorted
 * into a 16-bucket array by bits 16..20 of x. Keys 16..31 are outside the
 * array, so their lookups return NULL and are counted as misses instead.
 * Buckets are bumped with an atomic add whose result is unused.
 * Returns the number of misses in this run. */
#include "common.h"

struct bpf_map_def SEC("maps") hist = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 16,
};

SEC("socket")
int histogram(void *ctx)
{
	__u32 x = 1;
	int misses = 0;

	for (int i = 0; i < 100; i++) {
		x = x * 1103515245u + 12345u;
		__u32 bucket = (x >> 16) & 31;
		__u64 *count = bpf_map_lookup_elem(&hist, &bucket);

		if (count)
			__sync_fetch_and_add(count, 1);
		else
			misses++;
	}
	return misses;
}

char _license[] SEC("license") = "GPL";
