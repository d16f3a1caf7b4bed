/* Helpers called from program types that do not have them: the kernel's
 * verifier refuses each ("unknown func"), and so does tinybpf's load. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 4);
} ports SEC(".maps");

/* bpf_skb_load_bytes (26) is __sk_buff's. */
SEC("xdp")
int xdp_skb_load(struct xdp_md *ctx)
{
	__u32 word = 0;

	bpf_skb_load_bytes(ctx, 0, &word, 4);
	return XDP_PASS;
}

/* bpf_xdp_adjust_head (44) is XDP's. */
SEC("tc")
int tc_adjust_head(struct __sk_buff *skb)
{
	return bpf_xdp_adjust_head((struct xdp_md *)skb, 4) ? 2 : 0;
}

/* bpf_redirect_map (51) is XDP's alone. */
SEC("tc")
int tc_redirect_map(struct __sk_buff *skb)
{
	return bpf_redirect_map(&ports, 0, 0);
}

/* bpf_skb_store_bytes (9) is tc's. */
SEC("socket")
int socket_store(struct __sk_buff *skb)
{
	__u32 word = 0;

	bpf_skb_store_bytes(skb, 0, &word, 4, 0);
	return 0;
}

/* bpf_redirect (23) is not cgroup_skb's. */
SEC("cgroup_skb/ingress")
int cg_redirect(struct __sk_buff *skb)
{
	return bpf_redirect(1, 0) == 7;
}

/* A socket filter may load packet bytes. */
SEC("socket")
int socket_load(struct __sk_buff *skb)
{
	__u32 word = 0;

	return bpf_skb_load_bytes(skb, 0, &word, 4) ? 0 : word;
}

char _license[] SEC("license") = "GPL";
