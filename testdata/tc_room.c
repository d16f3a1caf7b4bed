/* bpf_skb_adjust_room in tc programs over the default 64-byte IPv4/TCP
 * frame (src/packet.rs), each call's return value recorded in `results`
 * (index: see the comments; expected values worked out in EXPECTED.md).
 *
 * room_ipv4: grows and shrinks after the network header and after the MAC
 * header, then encapsulates (20 bytes after the Ethernet header, whose
 * first byte the program sets to 0x45): the packet after the run is the
 * Ethernet header, 45 and 19 zero bytes, then the original 50 bytes from
 * the IPv4 header on: 84 bytes. Returns TC_ACT_OK.
 *
 * room_6in4: encapsulates the IPv4 packet in IPv6 (protocol becomes
 * IPv6), then decapsulates back to IPv4: the packet after the run is the
 * original frame. */
#include "common.h"
#include <bpf/bpf_endian.h>

#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

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

SEC("tc")
int room_ipv4(struct __sk_buff *skb)
{
	/* 0: 8 bytes after the IPv4 base header (14 + 20): 0 */
	record(0, bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, 0));
	/* 1: and away again: 0 (the frame is the original) */
	record(1, bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_NET, 0));
	/* 2: 4 bytes after the Ethernet header: 0 (68 bytes) */
	record(2, bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_MAC, 0));
	/* 3: an unknown flag: -EINVAL */
	record(3, bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_MAC, 1ULL << 9));
	/* 4: more than 0xfff bytes: -EFAULT */
	record(4, bpf_skb_adjust_room(skb, 0x1000, BPF_ADJ_ROOM_MAC, 0));
	/* 5: an unknown mode: -ENOTSUPP (524) */
	record(5, bpf_skb_adjust_room(skb, 4, 2, 0));
	/* 6: a decapsulation flag on a grow: -EINVAL */
	record(6, bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_MAC,
				      BPF_F_ADJ_ROOM_DECAP_L3_IPV4));
	/* 7: 54 bytes after the network header, 35 removed leave 19 < 20:
	 * -ENOTSUPP */
	record(7, bpf_skb_adjust_room(skb, -35, BPF_ADJ_ROOM_MAC, 0));
	/* 8: an encapsulation flag on a shrink: -EINVAL */
	record(8, bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_MAC,
				      BPF_F_ADJ_ROOM_ENCAP_L3_IPV4));
	/* 9: the 4 bytes away: 0 (the original frame) */
	record(9, bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_MAC, 0));
	/* 10: room for an outer IPv4 header: 0 (84 bytes) */
	record(10, bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC,
				       BPF_F_ADJ_ROOM_ENCAP_L3_IPV4));
	/* 11: encapsulated already: -EALREADY */
	record(11, bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC,
				       BPF_F_ADJ_ROOM_ENCAP_L3_IPV4));
	/* 12: change_tail on an encapsulated packet: -ENOTSUPP */
	record(12, bpf_skb_change_tail(skb, 100, 0));
	/* 13: both L3 flags (checked before "already"): -EINVAL */
	record(13, bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC,
				       BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
				       BPF_F_ADJ_ROOM_ENCAP_L3_IPV6));
	/* 14: the length now: 84 */
	record(14, skb->len);
	/* 15: the protocol, still IPv4 (0x0800 in network order: 8) */
	record(15, skb->protocol);
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + 15 > data_end)
		return 2;
	((__u8 *)data)[14] = 0x45;
	return 0;
}

SEC("tc")
int room_6in4(struct __sk_buff *skb)
{
	/* 0: room for an outer IPv6 header and UDP: 0 (112 bytes) */
	record(0, bpf_skb_adjust_room(skb, 48, BPF_ADJ_ROOM_MAC,
				      BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 |
				      BPF_F_ADJ_ROOM_ENCAP_L4_UDP));
	/* 1: the protocol is IPv6 now (0x86dd in network order: 0xdd86) */
	record(1, skb->protocol);
	/* 2: 98 bytes after the network header, an IPv6 header is 40: taking
	 * 48 away with decapsulation to IPv4: 0 */
	record(2, bpf_skb_adjust_room(skb, -48, BPF_ADJ_ROOM_MAC,
				      BPF_F_ADJ_ROOM_DECAP_L3_IPV4));
	/* 3: IPv4 again: 8 */
	record(3, skb->protocol);
	/* 4: the length: 64 */
	record(4, skb->len);
	/* 5: still marked encapsulated: change_tail is -ENOTSUPP */
	record(5, bpf_skb_change_tail(skb, 64, 0));
	return 0;
}

char _license[] SEC("license") = "GPL";
