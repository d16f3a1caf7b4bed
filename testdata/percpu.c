/* Per-CPU maps: each CPU counts in its own copy, with plain (non-atomic)
 * increments, as programs on different CPUs never share a per-CPU value.
 *
 * - cpu_hits (PERCPU_ARRAY): [0] counts runs, [1] adds 64 bytes per run.
 * - cpu_flows (PERCPU_HASH): key 7 counts runs. The first run creates it
 *   with 1 for its CPU; the kernel zeroes the other CPUs' values of an
 *   element a program creates, so every CPU then counts from 0. A CPU that
 *   loses the race to create it (-EEXIST) counts in the element the other
 *   created.
 *
 * Returns CPU 0's run count through bpf_map_lookup_percpu_elem, whichever
 * CPU runs the program; a CPU past the possible ones gives NULL (-1 then
 * would be returned). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} cpu_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} cpu_flows SEC(".maps");

SEC("socket")
int count_percpu(void *ctx)
{
	__u32 zero = 0, one = 1, flow = 7;
	__u64 first = 1, *count;

	count = bpf_map_lookup_elem(&cpu_hits, &zero);
	if (count)
		*count += 1;
	count = bpf_map_lookup_elem(&cpu_hits, &one);
	if (count)
		*count += 64;

	count = bpf_map_lookup_elem(&cpu_flows, &flow);
	if (count) {
		*count += 1;
	} else if (bpf_map_update_elem(&cpu_flows, &flow, &first, BPF_NOEXIST)) {
		count = bpf_map_lookup_elem(&cpu_flows, &flow);
		if (count)
			*count += 1;
	}

	if (bpf_map_lookup_percpu_elem(&cpu_hits, &zero, 0xffffffff))
		return -1;
	count = bpf_map_lookup_percpu_elem(&cpu_hits, &zero, 0);
	return count ? *count : -2;
}

char _license[] SEC("license") = "GPL";
