/* bpf_redirect and bpf_redirect_map in XDP programs: each program returns
 * the helper's verdict, and the run records the target. The maps are
 * filled from user space (tests/kernel_helpers.rs): tx_ports[1] = ifindex
 * 5, cpus[0] present, sockets[2] = 77; every other entry is empty. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} tx_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} sockets SEC(".maps");

/* XDP_REDIRECT to ifindex 3. */
SEC("xdp")
int to_ifindex(struct xdp_md *ctx)
{
	return bpf_redirect(3, 0);
}

/* Any flag: XDP_ABORTED, no target. */
SEC("xdp")
int ifindex_with_flags(struct xdp_md *ctx)
{
	return bpf_redirect(3, BPF_F_INGRESS);
}

/* The packet's first byte picks the devmap key; a miss returns XDP_PASS. */
SEC("xdp")
int by_devmap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + 1 > data_end)
		return XDP_ABORTED;
	return bpf_redirect_map(&tx_ports, *(__u8 *)data, XDP_PASS);
}

/* A hit, then a miss: the miss clears the target and returns XDP_DROP. */
SEC("xdp")
int hit_then_miss(struct xdp_md *ctx)
{
	bpf_redirect_map(&tx_ports, 1, 0);
	return bpf_redirect_map(&tx_ports, 3, XDP_DROP);
}

/* Key 1 + 2^32: the kernel's key is a u32, so this is key 1. */
SEC("xdp")
int wide_key(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_ports, 0x100000001ULL, 0);
}

/* A broadcast redirects even through an empty devmap hash. */
SEC("xdp")
int broadcast(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_hash, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
}

/* Broadcast is a devmap flag: a cpumap redirect with it is XDP_ABORTED. */
SEC("xdp")
int cpumap_bad_flag(struct xdp_md *ctx)
{
	return bpf_redirect_map(&cpus, 0, BPF_F_BROADCAST);
}

SEC("xdp")
int to_cpu(struct xdp_md *ctx)
{
	return bpf_redirect_map(&cpus, 0, 0);
}

SEC("xdp")
int to_socket(struct xdp_md *ctx)
{
	return bpf_redirect_map(&sockets, 2, XDP_PASS);
}

/* An empty socket slot with the fallback XDP_TX. */
SEC("xdp")
int empty_socket(struct xdp_md *ctx)
{
	return bpf_redirect_map(&sockets, 1, XDP_TX);
}

char LICENSE[] SEC("license") = "GPL";
