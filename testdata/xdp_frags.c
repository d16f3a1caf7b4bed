/* A multi-buffer XDP program (section xdp.frags) over a 5000-byte packet:
 * the kernel's test run puts 3520 bytes in the linear part (a page less
 * the 256-byte headroom and 320-byte tailroom) and 1480 in one fragment.
 * Results in `results` (EXPECTED.md works them out):
 *
 * frags: 0 buff_len 5000, 1 linear length 3520, 2 load_bytes across the
 * fragment boundary (0), 3 the 8 bytes loaded, 4 a load past the end
 * (-EINVAL), 5 shrink by 1000 (0), 6 buff_len 4000, 7 store "TAILMARK"
 * at 3990 (0), 8 grow past the fragment's page (-EINVAL), 9 grow by 100
 * (0), 10 buff_len 4100. The packet after: the input's first 4000 bytes
 * with "TAILMARK" at 3990, then 100 zero bytes.
 *
 * frags_free: shrinks the packet to 3000 bytes: the fragment is freed and
 * the linear part cut: 0 the return, 1 buff_len 3000, 2 linear 3000. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 16);
} results SEC(".maps");

static void record(__u32 index, __s64 value)
{
	bpf_map_update_elem(&results, &index, &value, BPF_ANY);
}

static __s64 linear(struct xdp_md *ctx)
{
	return (__s64)(ctx->data_end - ctx->data);
}

SEC("xdp.frags")
int frags(struct xdp_md *ctx)
{
	__u64 bytes = 0;

	record(0, bpf_xdp_get_buff_len(ctx));
	record(1, linear(ctx));
	record(2, bpf_xdp_load_bytes(ctx, 3516, &bytes, 8));
	record(3, bytes);
	record(4, bpf_xdp_load_bytes(ctx, 4996, &bytes, 8));
	record(5, bpf_xdp_adjust_tail(ctx, -1000));
	record(6, bpf_xdp_get_buff_len(ctx));
	record(7, bpf_xdp_store_bytes(ctx, 3990, "TAILMARK", 8));
	record(8, bpf_xdp_adjust_tail(ctx, 4096 - 480 + 1));
	record(9, bpf_xdp_adjust_tail(ctx, 100));
	record(10, bpf_xdp_get_buff_len(ctx));
	return XDP_PASS;
}

SEC("xdp.frags")
int frags_free(struct xdp_md *ctx)
{
	record(0, bpf_xdp_adjust_tail(ctx, 3000 - (int)bpf_xdp_get_buff_len(ctx)));
	record(1, bpf_xdp_get_buff_len(ctx));
	record(2, linear(ctx));
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
