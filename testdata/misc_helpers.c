/* Helpers without a map or packet change: the clock, the random
 * generator, the CPU, bpf_csum_diff and bpf_fib_lookup. Each result goes to
 * one slot of `results` (see EXPECTED.md for the values). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 24);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

static __always_inline void put(__u32 slot, __u64 value)
{
	bpf_map_update_elem(&results, &slot, &value, BPF_ANY);
}

/* Slots 0-5: clock readings and their differences, random numbers, CPU. */
SEC("xdp")
int clock_and_random(struct xdp_md *ctx)
{
	__u64 a = bpf_ktime_get_ns();
	__u64 b = bpf_ktime_get_boot_ns();
	__u64 c = bpf_ktime_get_coarse_ns();

	put(0, a);
	put(1, b - a);
	put(2, c - b);
	put(3, bpf_get_prandom_u32());
	put(4, bpf_get_prandom_u32());
	put(5, bpf_get_smp_processor_id());
	return XDP_PASS;
}

/* Slots 8-14: bpf_csum_diff over stack buffers and the packet. */
SEC("xdp")
int checksums(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 dead[2] = { 0xdeadbeefdeadbeefULL, 0xbeefdeadbeefdeadULL };
	__u64 zero = 0;
	__u64 ab = 0xababababababababULL;

	put(8, bpf_csum_diff(0, 0, (__be32 *)dead, 8, 0));
	put(9, bpf_csum_diff((__be32 *)dead, 8, 0, 0, 0));
	put(10, bpf_csum_diff((__be32 *)dead, 15, 0, 0, 0x1234));
	put(11, bpf_csum_diff((__be32 *)&zero, 8, (__be32 *)&ab, 8, 0));
	put(12, bpf_csum_diff(0, 0, 0, 0, 0x1234));
	if (data + 34 > data_end)
		return XDP_ABORTED;
	/* The IPv4 header of the default packet (checksum field 0): the
	 * sum of its little-endian 16-bit words, 0x3b99. */
	put(13, bpf_csum_diff(0, 0, data + 14, 20, 0));
	/* Swap the TTL byte 64 -> 63 (offset 22, an even offset of the
	 * header: the high byte of its 16-bit word in network order). */
	__be32 from = *(__be32 *)(data + 22);
	__be32 to = from;
	((__u8 *)&to)[0] = 63;
	put(14, bpf_csum_diff(&from, 4, &to, 4, 0));
	return XDP_PASS;
}

/* Slots 16-21: bpf_fib_lookup's answers without a routing table. */
SEC("xdp")
int fib(struct xdp_md *ctx)
{
	struct bpf_fib_lookup params = {};

	params.family = 2; /* AF_INET */
	params.ifindex = ctx->ingress_ifindex;
	params.ipv4_dst = 0x0200000a;
	put(16, bpf_fib_lookup(ctx, &params, sizeof(params), 0));
	put(17, bpf_fib_lookup(ctx, &params, sizeof(params) - 1, 0));
	put(18, bpf_fib_lookup(ctx, &params, sizeof(params), 1 << 6));
	params.ifindex = 7;
	put(19, bpf_fib_lookup(ctx, &params, sizeof(params), 0));
	params.family = 0;
	put(20, bpf_fib_lookup(ctx, &params, sizeof(params), 0));
	params.family = 10; /* AF_INET6 */
	params.ifindex = 1;
	put(21, bpf_fib_lookup(ctx, &params, sizeof(params), BPF_FIB_LOOKUP_DIRECT));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
