/* BPF_MAP_TYPE_HASH from a program: insert, update with each flag, delete,
 * lookup, and the errno of every refusal, in the kernel's order (bad flags
 * first, then BPF_NOEXIST on a present key -EEXIST, BPF_EXIST on a missing
 * key -ENOENT, then a new key in a full map -E2BIG; delete of a missing key
 * -ENOENT). Each step's return value goes to results[step].
 *
 * flows holds at most 4 keys. Every run ends with keys 1..4 holding 12, 20,
 * 30 and 40, so the runs after the first find them present: step 0 and
 * step 6 give -EEXIST and step 2 replaces key 2 (0); every other step
 * gives the same as in the first run. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static __always_inline void record(__u32 step, long ret)
{
	__s64 *slot = bpf_map_lookup_elem(&results, &step);

	if (slot)
		*slot = ret;
}

static __always_inline long put(__u32 key, __u64 value, __u64 flags)
{
	return bpf_map_update_elem(&flows, &key, &value, flags);
}

static __always_inline long del(__u32 key)
{
	return bpf_map_delete_elem(&flows, &key);
}

SEC("socket")
int hash_ops(void *ctx)
{
	__u32 key;
	__u64 *value;

	record(0, put(1, 10, BPF_NOEXIST));	/* 0; later runs -EEXIST */
	record(1, put(1, 11, BPF_EXIST));	/* 0 */
	record(2, put(2, 20, BPF_EXIST));	/* -ENOENT: 2 is missing; later 0 */
	record(3, put(2, 20, 4));		/* -EINVAL: flags before keys */
	record(4, put(2, 20, BPF_ANY));		/* 0 */
	record(5, put(3, 30, BPF_ANY));		/* 0 */
	record(6, put(4, 40, BPF_NOEXIST));	/* 0: full now; later -EEXIST */
	record(7, put(5, 50, BPF_ANY));		/* -E2BIG: no room for 5 */
	record(8, put(5, 50, BPF_EXIST));	/* -ENOENT before -E2BIG */
	record(9, del(5));			/* -ENOENT */
	record(10, del(4));			/* 0: the slot is free at once */
	key = 4;
	record(11, bpf_map_lookup_elem(&flows, &key) != 0);	/* 0: gone */
	record(12, put(4, 40, BPF_NOEXIST));	/* 0: room again */
	key = 1;
	value = bpf_map_lookup_elem(&flows, &key);
	if (!value)
		return -1;
	*value += 1;				/* 11 -> 12 in place */
	record(13, *value);
	return *value;
}

char _license[] SEC("license") = "GPL";
