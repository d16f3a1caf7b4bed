/* A tail call that moves the packet: `measure` records the length of the
 * packet it sees in `seen` (slot = its run, counted in `runs`) and
 * tail-calls `trim` through `next`, which moves the packet's start 2 bytes
 * on with bpf_xdp_adjust_head and passes it. Run repeatedly on the packet
 * the last run left, each run sees 2 bytes fewer than the one before. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int trim(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} next SEC(".maps") = {
	.values = {
		[0] = (void *)&trim,
	},
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

__u32 runs = 0;

SEC("xdp")
int trim(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, 2))
		return XDP_ABORTED;
	return XDP_PASS;
}

SEC("xdp")
int measure(struct xdp_md *ctx)
{
	__u32 slot = runs++ & 7;
	__u64 len = ctx->data_end - ctx->data;
	bpf_map_update_elem(&seen, &slot, &len, BPF_ANY);
	bpf_tail_call(ctx, &next, 0);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
