/* bpf_skb_change_tail and bpf_skb_change_head in a tc program over the
 * default 64-byte frame (src/packet.rs), each refusal's errno recorded in
 * `results` (index: see the comments).
 *
 * The packet after the run: 4 bytes "HEAD" pushed before the frame, the
 * 64-byte frame, then 6 zero bytes from growing the tail: 74 bytes, and
 * skb->len 74. Returns TC_ACT_OK. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 10);
} results SEC(".maps");

static void record(__u32 index, __s64 value)
{
	bpf_map_update_elem(&results, &index, &value, BPF_ANY);
}

SEC("tc")
int tc_resize(struct __sk_buff *skb)
{
	/* 0: grow the tail to 70 bytes: 0 */
	record(0, bpf_skb_change_tail(skb, 70, 0));
	/* 1: shorter than the Ethernet header: -EINVAL */
	record(1, bpf_skb_change_tail(skb, 13, 0));
	/* 2: longer than lo's MTU plus its header (65550): -EINVAL */
	record(2, bpf_skb_change_tail(skb, 65551, 0));
	/* 3: any flag: -EINVAL */
	record(3, bpf_skb_change_tail(skb, 70, 1));
	/* 4: push 4 bytes: 0 */
	record(4, bpf_skb_change_head(skb, 4, 0));
	/* 5: past the largest length: -EINVAL */
	record(5, bpf_skb_change_head(skb, 65550 - 74 + 1, 0));
	/* 6: any flag: -EINVAL */
	record(6, bpf_skb_change_head(skb, 4, 1));
	/* 7: the length now: 74 */
	record(7, skb->len);
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + 4 > data_end)
		return 2;
	__builtin_memcpy(data, "HEAD", 4);
	/* 8: the byte the frame's first byte is now at (data + 4): 0x02 */
	if (data + 5 > data_end)
		return 2;
	record(8, ((__u8 *)data)[4]);
	return 0;
}

char _license[] SEC("license") = "GPL";
