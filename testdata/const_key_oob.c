/* Constant-key lookups, in range and out of range. The array has 4
 * elements: keys 2 and 3 are found, key 4 (== max_entries) and key
 * 0xffffffff (which a signed comparison would wrongly accept) must give
 * NULL. The return value has one bit per expected outcome:
 *   1 key 2 found, 2 key 3 found, 4 key 4 NULL, 8 key 0xffffffff NULL
 * so a correct run returns 15. A wrongly found out-of-range element is
 * written to (0xbad) so the damage shows. The input memory is not read. */
#include "common.h"

struct bpf_map_def SEC("maps") small = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

SEC("socket")
int const_key_oob(void *ctx)
{
	__u32 k2 = 2, k3 = 3, k4 = 4, kmax = 0xffffffff;
	int ret = 0;
	__u64 *v;

	v = bpf_map_lookup_elem(&small, &k2);
	if (v) {
		*v += 1;
		ret |= 1;
	}
	v = bpf_map_lookup_elem(&small, &k3);
	if (v) {
		*v = 0x33;
		ret |= 2;
	}
	v = bpf_map_lookup_elem(&small, &k4);
	if (v)
		*v = 0xbad;
	else
		ret |= 4;
	v = bpf_map_lookup_elem(&small, &kmax);
	if (v)
		*v = 0xbad;
	else
		ret |= 8;
	return ret;
}

char _license[] SEC("license") = "GPL";
