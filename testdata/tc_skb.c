/* A tc classifier over the default 64-byte Ethernet/IPv4/TCP frame (see
 * src/packet.rs), on `struct __sk_buff` as the kernel's test run builds it:
 * `fields` records what it reads, `results` the return of each packet
 * helper (index: see the comments).
 *
 * It rewrites the destination IPv4 address 10.0.0.2 -> 10.0.0.3 with
 * bpf_skb_store_bytes and fixes the IPv4 checksum (0 in the frame) with
 * bpf_l3_csum_replace and the TCP checksum (also 0) with
 * bpf_l4_csum_replace; it writes mark, priority, cb, tc_classid and
 * queue_mapping, and returns TC_ACT_OK. */
#include "common.h"
#include <stddef.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 16);
} fields SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 16);
} results SEC(".maps");

static void put(void *map, __u32 index, __s64 value)
{
	bpf_map_update_elem(map, &index, &value, BPF_ANY);
}

#define barrier() asm volatile("" ::: "memory")
#define IP_DST_OFF (14 + offsetof(struct iphdr, daddr))
#define IP_CSUM_OFF (14 + offsetof(struct iphdr, check))
#define TCP_CSUM_OFF (14 + 20 + 16)

struct iphdr {
	__u8 ihl_version, tos;
	__u16 tot_len, id, frag_off;
	__u8 ttl, protocol;
	__u16 check;
	__u32 saddr, daddr;
};

SEC("tc")
int tc_skb(struct __sk_buff *skb)
{
	__u32 old_ip = 0, new_ip = 0x0300000a; /* 10.0.0.3 as it lies in memory */
	__u16 scratch = 0xffff;
	__u8 byte = 0;

	put(&fields, 0, skb->len);		/* 64 */
	put(&fields, 1, skb->protocol);		/* 0x0008: ETH_P_IP in network order */
	put(&fields, 2, skb->pkt_type);		/* 3: PACKET_OTHERHOST */
	put(&fields, 3, skb->ifindex);		/* 1: lo */
	put(&fields, 4, skb->ingress_ifindex);	/* 0 */
	put(&fields, 5, skb->mark);		/* 0, or what --ctx-in set */
	put(&fields, 6, skb->data_end - skb->data); /* 64 */
	put(&fields, 7, skb->cb[2]);		/* 0, or what --ctx-in set */

	/* 0: read the destination address: 0 */
	put(&results, 0, bpf_skb_load_bytes(skb, IP_DST_OFF, &old_ip, 4));
	/* 1: past the end: -EFAULT, and the buffer cleared */
	put(&results, 1, bpf_skb_load_bytes(skb, 63, &scratch, 2));
	/* 2: write the new address: 0 */
	put(&results, 2, bpf_skb_store_bytes(skb, IP_DST_OFF, &new_ip, 4, 0));
	/* 3: an unknown flag: -EINVAL */
	put(&results, 3, bpf_skb_store_bytes(skb, 0, &byte, 1, 8));
	/* 4: the IPv4 checksum for the changed address: 0 */
	put(&results, 4, bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ip, new_ip, 4));
	/* 5: the TCP checksum (pseudo header): 0 */
	put(&results, 5, bpf_l4_csum_replace(skb, TCP_CSUM_OFF, old_ip, new_ip,
					      BPF_F_PSEUDO_HDR | 4));
	/* 6: an odd offset: -EFAULT */
	put(&results, 6, bpf_l3_csum_replace(skb, 25, 0, 0, 2));
	/* 7: size 3: -EINVAL */
	put(&results, 7, bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, 0, 3));
	/* 8: the buffer the failed load cleared: 0 */
	put(&results, 8, scratch);
	/* 9: the address read at 0: 10.0.0.2 as it lies in memory */
	put(&results, 9, old_ip);

	/* One field per store: clang would merge neighbouring constant
	 * stores into one 8-byte store, which the kernel's verifier refuses
	 * for __sk_buff (and tinybpf with it). */
	skb->mark = 0x42;
	barrier();
	skb->priority = 7;
	barrier();
	skb->cb[0] = 0x11;
	barrier();
	skb->cb[4] = 0x55;
	barrier();
	skb->tc_classid = 0x10002;	/* stored as a u16: reads back 2 */
	barrier();
	skb->queue_mapping = 3;
	put(&fields, 8, skb->tc_classid);
	put(&fields, 9, skb->queue_mapping);
	return 0; /* TC_ACT_OK */
}

char _license[] SEC("license") = "GPL";
