/* tinybpf is a sandbox, not the kernel's verifier. unchecked_read reads
 * byte 100 of the packet without comparing against data_end first: the
 * kernel's verifier refuses to load it; tinybpf runs it, and on a packet
 * shorter than 101 bytes stops it with an out-of-bounds fault. checked_read
 * is the same program with the check the verifier wants.
 *
 * Both return XDP_PASS (2) when byte 100 is zero and XDP_DROP (1) otherwise;
 * checked_read also drops a packet shorter than 101 bytes. */
#include "common.h"

SEC("xdp")
int unchecked_read(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;

	return data[100] == 0 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int checked_read(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *data_end = (void *)(long)ctx->data_end;

	if (data + 101 > data_end)
		return XDP_DROP;
	return data[100] == 0 ? XDP_PASS : XDP_DROP;
}
