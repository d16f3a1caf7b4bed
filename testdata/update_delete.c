/* bpf_map_update_elem and bpf_map_delete_elem called from a program on an
 * array map, with every flag and the error paths. Each helper's return
 * value is stored, as a signed 64-bit number, in results[i]; the program
 * returns how many of the 8 matched the kernel's answer. The input memory
 * is not read.
 *
 *   i  call                                  expected
 *   0  update(target[1] = 0x1111, BPF_ANY)      0
 *   1  update(target[1] = 0x2222, BPF_NOEXIST)  -EEXIST (-17), no change
 *   2  update(target[2] = old + 1, BPF_EXIST)   0
 *   3  update(target[0], flags 3)               -EINVAL (-22)
 *   4  update(target[4], BPF_ANY)               -E2BIG (-7): key == max_entries
 *   5  update(target[4], flags 3)               -EINVAL: flags are checked first
 *   6  update(target[7], BPF_NOEXIST)           -E2BIG: range before NOEXIST
 *   7  delete(target[1])                        -EINVAL: arrays cannot delete
 */
#include "common.h"

#define NRESULTS 8

struct bpf_map_def SEC("maps") target = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct bpf_map_def SEC("maps") results = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__s64),
	.max_entries = NRESULTS,
};

static __always_inline int store(__u32 i, __s64 got, __s64 want)
{
	__s64 *slot = bpf_map_lookup_elem(&results, &i);

	if (slot)
		*slot = got;
	return got == want;
}

SEC("socket")
int update_delete(void *ctx)
{
	__u32 k0 = 0, k1 = 1, k2 = 2, k4 = 4, k7 = 7;
	__u64 v1 = 0x1111, v2 = 0x2222, v3 = 0;
	int ok = 0;

	ok += store(0, bpf_map_update_elem(&target, &k1, &v1, BPF_ANY), 0);
	ok += store(1, bpf_map_update_elem(&target, &k1, &v2, BPF_NOEXIST), -17);

	__u64 *old = bpf_map_lookup_elem(&target, &k2);

	if (old)
		v3 = *old + 1;
	ok += store(2, bpf_map_update_elem(&target, &k2, &v3, BPF_EXIST), 0);
	ok += store(3, bpf_map_update_elem(&target, &k0, &v1, 3), -22);
	ok += store(4, bpf_map_update_elem(&target, &k4, &v1, BPF_ANY), -7);
	ok += store(5, bpf_map_update_elem(&target, &k4, &v1, 3), -22);
	ok += store(6, bpf_map_update_elem(&target, &k7, &v1, BPF_NOEXIST), -7);
	ok += store(7, bpf_map_delete_elem(&target, &k1), -22);
	return ok;
}

char _license[] SEC("license") = "GPL";
