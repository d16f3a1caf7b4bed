/* bpf_loop (helper 181): a sum over the loop index, a callback that stops
 * the loop early, zero iterations, the kernel's errors for flags and for
 * more than 1 << 23 iterations, and a loop inside a callback. Each result
 * lands in a global variable (.bss); the program returns XDP_PASS. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct loop_ctx {
	__u64 sum;
	__u64 calls;
	__u64 stop_at;
};

__u64 sum_result = 0, sum_value = 0, sum_calls = 0;
__u64 break_result = 0, break_value = 0, break_calls = 0;
__u64 zero_result = 0, zero_calls = 0;
__s64 flags_result = 0, e2big_result = 0, errors_calls = 0;
__u64 nested_result = 0, nested_calls = 0, nested_outer = 0;

/* Adds the index, counts the call, stops after index stop_at. */
static long add_index(__u64 index, void *data)
{
	struct loop_ctx *c = data;

	c->sum += index;
	c->calls++;
	return index == c->stop_at;
}

static long count_call(__u64 index, void *data)
{
	struct loop_ctx *c = data;

	c->calls++;
	return 0;
}

/* Runs an inner loop of 4 counting calls, then adds its own index. */
static long inner_loop(__u64 index, void *data)
{
	struct loop_ctx *c = data;

	bpf_loop(4, count_call, c, 0);
	c->sum += index;
	return 0;
}

SEC("xdp")
int loops(struct xdp_md *ctx)
{
	struct loop_ctx c = { .stop_at = 100 };

	sum_result = bpf_loop(10, add_index, &c, 0);
	sum_value = c.sum;
	sum_calls = c.calls;

	c.sum = 0;
	c.calls = 0;
	c.stop_at = 3;
	break_result = bpf_loop(10, add_index, &c, 0);
	break_value = c.sum;
	break_calls = c.calls;

	c.calls = 0;
	zero_result = bpf_loop(0, add_index, &c, 0);
	zero_calls = c.calls;

	c.calls = 0;
	flags_result = bpf_loop(5, add_index, &c, 1);
	e2big_result = bpf_loop((1 << 23) + 1, add_index, &c, 0);
	errors_calls = c.calls;

	c.sum = 0;
	c.calls = 0;
	nested_result = bpf_loop(3, inner_loop, &c, 0);
	nested_calls = c.calls;
	nested_outer = c.sum;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
