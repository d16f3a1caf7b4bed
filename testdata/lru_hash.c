/* BPF_MAP_TYPE_LRU_HASH: a new key in a full map evicts the least
 * recently used key instead of failing with -E2BIG as a plain hash does.
 * Each run starts from empty maps, fills recent (4 keys), looks up keys
 * 1, 2 and 3 so that only the untouched key is a candidate, and adds a new
 * key: key 4 is evicted; again with key 5, which is then evicted by 6. The
 * plain hash of the same size refuses its fifth key.
 *
 * results[i] holds each step's return value; the program returns a mask
 * of the keys 1..6 left in recent (bit k - 1 for key k). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} full SEC(".maps");

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

static __always_inline long put(void *map, __u32 key, __u64 flags)
{
	__u64 value = key * 10;

	return bpf_map_update_elem(map, &key, &value, flags);
}

static __always_inline void touch(__u32 key)
{
	bpf_map_lookup_elem(&recent, &key);
}

SEC("socket")
int lru_evict(void *ctx)
{
	__u32 key, mask = 0;

	for (key = 1; key <= 6; key++) {
		bpf_map_delete_elem(&recent, &key);
		bpf_map_delete_elem(&full, &key);
	}
	for (key = 1; key <= 4; key++) {
		record(key - 1, put(&recent, key, BPF_NOEXIST));	/* 0 */
		put(&full, key, BPF_NOEXIST);
	}
	touch(1);
	touch(2);
	touch(3);
	record(4, put(&recent, 5, BPF_NOEXIST));	/* 0: evicts 4 */
	touch(1);
	touch(2);
	touch(3);
	record(5, put(&recent, 6, BPF_NOEXIST));	/* 0: evicts 5 */
	record(6, put(&full, 5, BPF_NOEXIST));		/* -E2BIG */
	record(7, put(&recent, 1, BPF_NOEXIST));	/* -EEXIST */
	record(8, put(&recent, 4, BPF_EXIST));		/* -ENOENT: evicted */
	for (key = 1; key <= 6; key++)
		if (bpf_map_lookup_elem(&recent, &key))
			mask |= 1 << (key - 1);
	return mask;
}

char _license[] SEC("license") = "GPL";
