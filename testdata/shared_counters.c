/* The README's pinning example: packet and byte counters in an array
 * pinned by name, so that every process running the program with the same
 * --pin-dir adds to the same counters, and `tinybpf map show` reads them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	__u32 packets = 0, bytes = 1;
	__u64 *count = bpf_map_lookup_elem(&counters, &packets);

	if (count)
		__sync_fetch_and_add(count, 1);
	count = bpf_map_lookup_elem(&counters, &bytes);
	if (count)
		__sync_fetch_and_add(count, ctx->data_end - ctx->data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
