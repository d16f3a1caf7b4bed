/* bpf_for_each_map_elem (helper 164) over an array (values changed in the
 * callback), the same array stopped early, a per-CPU array, a hash map
 * (values doubled in the callback), an empty hash map, and the flags
 * error. Each result lands in a global variable (.bss); the program returns
 * XDP_PASS. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} numbers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} per_cpu SEC(".maps");

/* BPF_F_ZERO_SEED: the same hash, so the same walk order, in every run. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__uint(map_flags, BPF_F_ZERO_SEED);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} empty SEC(".maps");

struct walk {
	__u64 sum;
	__u64 keys;
	__u64 calls;
};

__u64 array_result = 0, array_sum = 0, array_keys = 0;
__u64 find_result = 0, find_calls = 0;
__u64 percpu_result = 0, percpu_keys = 0;
__u64 hash_result = 0, hash_sum = 0, hash_keys = 0;
__u64 empty_result = 0, empty_calls = 0;
__s64 flags_result = 0;

/* Adds the value and the key, then adds key + 1 to the value. */
static long add_and_bump(void *map, __u32 *key, __u64 *value, struct walk *w)
{
	w->sum += *value;
	w->keys += *key;
	w->calls++;
	*value += *key + 1;
	return 0;
}

/* Counts the calls and stops at key 2. */
static long find_two(void *map, __u32 *key, __u64 *value, struct walk *w)
{
	w->calls++;
	return *key == 2;
}

/* Adds the value, then doubles it. */
static long sum_and_double(void *map, __u32 *key, __u64 *value, struct walk *w)
{
	w->sum += *value;
	w->keys += *key;
	w->calls++;
	*value *= 2;
	return 0;
}

SEC("xdp")
int for_each(struct xdp_md *ctx)
{
	struct walk w = {};
	__u32 key;
	__u64 value;

	array_result = bpf_for_each_map_elem(&numbers, add_and_bump, &w, 0);
	array_sum = w.sum;
	array_keys = w.keys;

	w.calls = 0;
	find_result = bpf_for_each_map_elem(&numbers, find_two, &w, 0);
	find_calls = w.calls;

	w.keys = 0;
	percpu_result = bpf_for_each_map_elem(&per_cpu, add_and_bump, &w, 0);
	percpu_keys = w.keys;

	for (key = 5; key <= 9; key += 2) {
		value = key * 10;
		bpf_map_update_elem(&table, &key, &value, BPF_ANY);
	}
	w.sum = 0;
	w.keys = 0;
	hash_result = bpf_for_each_map_elem(&table, sum_and_double, &w, 0);
	hash_sum = w.sum;
	hash_keys = w.keys;

	w.calls = 0;
	empty_result = bpf_for_each_map_elem(&empty, sum_and_double, &w, 0);
	empty_calls = w.calls;

	flags_result = bpf_for_each_map_elem(&numbers, find_two, &w, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
