/* XDP packet helpers on the default 64-byte frame (see src/packet.rs):
 * bpf_xdp_adjust_head, bpf_xdp_adjust_meta, bpf_xdp_adjust_tail,
 * bpf_xdp_load_bytes and bpf_xdp_store_bytes, with the errno of each
 * refusal recorded in `results` (index: see the comments).
 *
 * After the run the packet (from data_meta) is: 4 bytes of metadata
 * 0xdeadbeef (little-endian), then 4 new head bytes "TBPF", the original
 * 64-byte frame with its first destination MAC byte rewritten to 0xaa by
 * bpf_xdp_store_bytes, then 6 zero bytes from growing the tail: 78 bytes.
 * Returns XDP_TX. */
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

SEC("xdp")
int xdp_adjust(struct xdp_md *ctx)
{
	__u8 buf[4] = {0};

	/* 0: more headroom than there is (256 - 40 usable = 216): -EINVAL */
	record(0, bpf_xdp_adjust_head(ctx, -217));
	/* 1: leaving less than 14 bytes: -EINVAL */
	record(1, bpf_xdp_adjust_head(ctx, 51));
	/* 2: grow the head by 4: 0 */
	record(2, bpf_xdp_adjust_head(ctx, -4));
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + 4 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, "TBPF", 4);
	/* 3: metadata not a multiple of 4: -EACCES */
	record(3, bpf_xdp_adjust_meta(ctx, -2));
	/* 4: metadata past data: -EINVAL */
	record(4, bpf_xdp_adjust_meta(ctx, 4));
	/* 5: 4 bytes of metadata: 0 */
	record(5, bpf_xdp_adjust_meta(ctx, -4));
	void *meta = (void *)(long)ctx->data_meta;
	data = (void *)(long)ctx->data;
	if (meta + 4 > data)
		return XDP_ABORTED;
	*(__u32 *)meta = 0xdeadbeef;
	/* 6: the tail past the frame's end: -EINVAL */
	record(6, bpf_xdp_adjust_tail(ctx, 4000));
	/* 7: shrinking below 14 bytes: -EINVAL */
	record(7, bpf_xdp_adjust_tail(ctx, -60));
	/* 8: grow the tail by 6 zero bytes: 0 */
	record(8, bpf_xdp_adjust_tail(ctx, 6));
	/* 9: the packet is now 74 bytes from data: len = data_end - data */
	record(9, (long)ctx->data_end - (long)ctx->data);
	/* 10: load 4 bytes at offset 4: the destination MAC 02:00:00:00:00:02
	 * starts there; its first 4 bytes read as 0x00000002 */
	record(10, bpf_xdp_load_bytes(ctx, 4, buf, 4));
	record(11, *(__u32 *)buf);
	/* 12: past the end: -EINVAL */
	record(12, bpf_xdp_load_bytes(ctx, 72, buf, 4));
	/* 13: store one byte 0xaa at offset 4: 0 */
	buf[0] = 0xaa;
	record(13, bpf_xdp_store_bytes(ctx, 4, buf, 1));
	/* 14: an offset past 0xffff: -EFAULT */
	record(14, bpf_xdp_store_bytes(ctx, 0x10000, buf, 1));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
