/* Tail calls through a BTF-declared program array: `entry` jumps to
 * `again`, which counts its runs and jumps to itself until the kernel's
 * limit of 33 tail calls per run stops it (the 34th falls through and it
 * returns 1); `to_empty` jumps to an empty slot and falls through. As the
 * kernel selftest tailcall3 expects, `again` runs 33 times per run. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int again(void *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = {
		[0] = (void *)&again,
	},
};

__u64 count = 0;

SEC("socket")
int again(void *ctx)
{
	count++;
	bpf_tail_call(ctx, &jumps, 0);
	return 1;
}

SEC("socket")
int entry(void *ctx)
{
	bpf_tail_call(ctx, &jumps, 0);
	return 0;
}

SEC("socket")
int to_empty(void *ctx)
{
	bpf_tail_call(ctx, &jumps, 1);
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
