/* The map benchmarks (benches/maps.rs): 256 lookups or updates with
 * run-time keys per run, in a hash, an array and a per-CPU array of 256
 * u64 values. The hash is filled by the bench before the lookups. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ENTRIES 256

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} cpu_slots SEC(".maps");

static __always_inline __u64 sum_of(void *map)
{
	__u64 sum = 0;
	__u32 key;

	for (key = 0; key < ENTRIES; key++) {
		__u64 *value = bpf_map_lookup_elem(map, &key);

		if (value)
			sum += *value;
	}
	return sum;
}

SEC("socket")
int hash_lookup(void *ctx)
{
	return sum_of(&flows);
}

SEC("socket")
int hash_update(void *ctx)
{
	__u32 key;

	for (key = 0; key < ENTRIES; key++) {
		__u64 value = key;

		bpf_map_update_elem(&flows, &key, &value, BPF_ANY);
	}
	return 0;
}

SEC("socket")
int array_lookup(void *ctx)
{
	return sum_of(&slots);
}

SEC("socket")
int percpu_lookup(void *ctx)
{
	return sum_of(&cpu_slots);
}

char _license[] SEC("license") = "GPL";
