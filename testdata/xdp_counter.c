/* An XDP packet counter. Parses Ethernet and IPv4 with the bounds checks
 * against data_end that the verifier demands, then, for TCP and UDP, the
 * transport header found at ihl * 4 bytes into the IPv4 header.
 *
 * Maps:
 *   outcome[4]      packets per outcome: 0 frame shorter than Ethernet,
 *                   1 not IPv4, 2 IPv4 header cut short, 3 IPv4 counted
 *   proto_stats[256] per IP protocol: packets, frame bytes, IPv4 total length
 *   dport_hits[1024] TCP/UDP packets per destination port (ports >= 1024
 *                   miss the array and are not counted)
 *
 * Verdicts: XDP_DROP for frames too short for the headers they claim,
 * XDP_PASS otherwise. */
#include "common.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>

struct proto_rec {
	__u64 packets;
	__u64 frame_bytes;
	__u64 ip_bytes;
};

struct bpf_map_def SEC("maps") outcome = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct bpf_map_def SEC("maps") proto_stats = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct proto_rec),
	.max_entries = 256,
};

struct bpf_map_def SEC("maps") dport_hits = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1024,
};

static __always_inline void count_outcome(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&outcome, &which);

	if (n)
		*n += 1;
}

SEC("xdp")
int xdp_counter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end) {
		count_outcome(0);
		return XDP_DROP;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		count_outcome(1);
		return XDP_PASS;
	}

	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > data_end || ip->ihl < 5) {
		count_outcome(2);
		return XDP_DROP;
	}
	count_outcome(3);

	__u32 proto = ip->protocol;
	struct proto_rec *rec = bpf_map_lookup_elem(&proto_stats, &proto);

	if (rec) {
		rec->packets += 1;
		rec->frame_bytes += data_end - data;
		rec->ip_bytes += bpf_ntohs(ip->tot_len);
	}

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		/* Source and destination ports lead both TCP and UDP headers. */
		__be16 *ports = (void *)ip + ip->ihl * 4;

		if ((void *)(ports + 2) > data_end)
			return XDP_DROP;
		__u32 dport = bpf_ntohs(ports[1]);
		__u64 *hits = bpf_map_lookup_elem(&dport_hits, &dport);

		if (hits)
			*hits += 1;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
