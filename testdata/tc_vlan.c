/* bpf_skb_vlan_push and bpf_skb_vlan_pop in a tc program over the default
 * 64-byte frame (src/packet.rs), return values and __sk_buff's VLAN fields
 * recorded in `results` (index: see the comments; EXPECTED.md works them
 * out).
 *
 * The kernel holds the outermost tag beside the packet (vlan_present,
 * vlan_tci, vlan_proto); a second push puts the held tag into the packet.
 * The packet after the run: the MAC addresses, the tag 81 00 00 05, then
 * the rest of the original frame from its EtherType on (68 bytes), with
 * tag 802.1Q TCI 7 held. Returns TC_ACT_OK. */
#include "common.h"
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 32);
} results SEC(".maps");

static void record(__u32 index, __s64 value)
{
	bpf_map_update_elem(&results, &index, &value, BPF_ANY);
}

SEC("tc")
int vlan(struct __sk_buff *skb)
{
	/* 0: no tag: 0 */
	record(0, skb->vlan_present);
	/* 1: 802.1Q, TCI 100: held, the packet unchanged: 0 */
	record(1, bpf_skb_vlan_push(skb, bpf_htons(0x8100), 100));
	/* 2..5: present 1, TCI 100, proto 0x8100 in network order (0x0081 =
	 * 129), length 64 */
	record(2, skb->vlan_present);
	record(3, skb->vlan_tci);
	record(4, skb->vlan_proto);
	record(5, skb->len);
	/* 6: 802.1AD, TCI 200: the 802.1Q tag goes into the packet: 0 */
	record(6, bpf_skb_vlan_push(skb, bpf_htons(0x88a8), 200));
	/* 7, 8: length 68, protocol 802.1Q (129) */
	record(7, skb->len);
	record(8, skb->protocol);
	/* 9: an unknown protocol is taken as 802.1Q: 0; the 802.1AD tag goes
	 * into the packet */
	record(9, bpf_skb_vlan_push(skb, bpf_htons(0x1234), 300));
	/* 10..13: proto 129, TCI 300, length 72, protocol 802.1AD (0xa888) */
	record(10, skb->vlan_proto);
	record(11, skb->vlan_tci);
	record(12, skb->len);
	record(13, skb->protocol);
	/* 14: pop: the held tag goes, the 802.1AD tag moves from the packet
	 * to the held one: 0 */
	record(14, bpf_skb_vlan_pop(skb));
	/* 15..17: TCI 200, proto 0xa888, length 68 */
	record(15, skb->vlan_tci);
	record(16, skb->vlan_proto);
	record(17, skb->len);
	/* 18: pop again: the 802.1Q tag out of the packet: 0 */
	record(18, bpf_skb_vlan_pop(skb));
	/* 19..21: TCI 100, length 64, protocol IPv4 (8) */
	record(19, skb->vlan_tci);
	record(20, skb->len);
	record(21, skb->protocol);
	/* 22: pop the last: 0; 23: no tag */
	record(22, bpf_skb_vlan_pop(skb));
	record(23, skb->vlan_present);
	/* 24: pop with no tag anywhere: 0 */
	record(24, bpf_skb_vlan_pop(skb));
	/* 25, 26: two pushes leave TCI 5 in the packet and 7 held: 0, 0 */
	record(25, bpf_skb_vlan_push(skb, bpf_htons(0x8100), 5));
	record(26, bpf_skb_vlan_push(skb, bpf_htons(0x8100), 7));
	/* 27: TCI 7 */
	record(27, skb->vlan_tci);
	return 0;
}

/* Pops whatever the frame carries: with a tagged input frame, the tag
 * moves out of the packet; results[0] the return, [1] the held TCI, [2]
 * the protocol after. */
SEC("tc")
int vlan_pop_input(struct __sk_buff *skb)
{
	record(0, bpf_skb_vlan_pop(skb));
	record(1, skb->vlan_tci);
	record(2, skb->protocol);
	return 0;
}

char _license[] SEC("license") = "GPL";
