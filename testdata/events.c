/* Events to user space: a ring buffer (output, reserve/submit/discard,
 * query, the kernel's refusals) and a perf event array (the current CPU,
 * packet bytes appended, the kernel's errnos). Helper results go to
 * `results` (see EXPECTED.md). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static __always_inline void put(__u32 slot, __s64 value)
{
	bpf_map_update_elem(&results, &slot, &value, BPF_ANY);
}

SEC("xdp")
int ring_records(struct xdp_md *ctx)
{
	__u32 pair[2] = { 1, 2 };
	__u32 *record;

	/* Slot 0: 0; slot 1: -EINVAL (flag 4 is no wakeup flag). */
	put(0, bpf_ringbuf_output(&ring, pair, sizeof(pair), 0));
	put(1, bpf_ringbuf_output(&ring, pair, sizeof(pair), 4));
	/* A 12-byte record written in place, then submitted. */
	record = bpf_ringbuf_reserve(&ring, 12, 0);
	put(2, record != 0);
	if (record) {
		record[0] = 0xaaaaaaaa;
		record[1] = 0xbbbbbbbb;
		record[2] = 0xcccccccc;
		bpf_ringbuf_submit(record, 0);
	}
	/* Discarded: user space never sees it, but it took room. */
	record = bpf_ringbuf_reserve(&ring, 8, 0);
	put(3, record != 0);
	if (record) {
		record[0] = 0xdddddddd;
		bpf_ringbuf_discard(record, 0);
	}
	/* Larger than the ring, or with a flag: NULL. */
	put(4, bpf_ringbuf_reserve(&ring, 8192, 0) != 0);
	put(5, bpf_ringbuf_reserve(&ring, 8, 1) != 0);
	/* Available data: 3 records of 8 + round_up(size, 8) bytes. */
	put(6, bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA));
	put(7, bpf_ringbuf_query(&ring, BPF_RB_RING_SIZE));
	return XDP_PASS;
}

/* Reserves and never submits (the kernel's verifier would refuse this):
 * the run discards the record when it ends. */
SEC("xdp")
int ring_left_open(struct xdp_md *ctx)
{
	__u64 *record = bpf_ringbuf_reserve(&ring, 8, 0);

	if (!record)
		return XDP_ABORTED;
	*record = 0x1122334455667788ULL;
	return XDP_PASS;
}

SEC("xdp")
int perf_samples(struct xdp_md *ctx)
{
	__u32 value = 0x01020304;

	/* Slot 8: 0, a 4-byte sample on this CPU's entry. */
	put(8, bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &value, 4));
	/* Slot 9: 0, the value then the packet's first 14 bytes. */
	put(9, bpf_perf_event_output(ctx, &perf, (14ULL << 32) | BPF_F_CURRENT_CPU,
				     &value, 4));
	/* Slot 10: -E2BIG, index 4 >= max_entries. */
	put(10, bpf_perf_event_output(ctx, &perf, 4, &value, 4));
	/* Slot 11: -EINVAL, a flag above the context length. */
	put(11, bpf_perf_event_output(ctx, &perf, (1ULL << 52) | BPF_F_CURRENT_CPU,
				      &value, 4));
	/* Slot 12: -EFAULT, more packet bytes than the packet has. */
	put(12, bpf_perf_event_output(ctx, &perf, (0xfffffULL << 32) | BPF_F_CURRENT_CPU,
				      &value, 4));
	/* Slot 13: -EOPNOTSUPP, CPU 1's entry from CPU 0. */
	put(13, bpf_perf_event_output(ctx, &perf, 1, &value, 4));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
