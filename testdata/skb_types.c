/* __sk_buff for the other program types the kernel's test run builds it
 * for, over the default 64-byte Ethernet/IPv4/TCP frame (src/packet.rs):
 *
 * sock_len (socket filter): data starts at the network header, so len is
 *   50 and bpf_skb_load_bytes at offset 0 reads the IPv4 version/ihl byte
 *   0x45; writes cb[1] = 9; returns len (bytes to keep).
 * cg_skb (cgroup_skb/ingress): reads the IPv4 protocol byte (6) directly
 *   from data, the test run's socket's family (AF_INET, 2) and remote
 *   address (10.0.0.2), writes mark = 5; returns 1 (allow).
 * bad_len (tc): writes skb->len, which the kernel refuses: a load error
 *   naming the field (the context pointer is r1 itself).
 * bad_mark (socket filter): writes skb->mark, which a socket filter may
 *   only read: a load error naming the field.
 * len_in_call (tc): writes skb->len in a subprogram, where the load-time
 *   check does not know the pointer: a run fault naming the field. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 10);
} seen SEC(".maps");

static void put(__u32 index, __s64 value)
{
	bpf_map_update_elem(&seen, &index, &value, BPF_ANY);
}

SEC("socket")
int sock_len(struct __sk_buff *skb)
{
	__u8 first = 0;

	put(0, skb->len);
	put(1, bpf_skb_load_bytes(skb, 0, &first, 1));
	put(2, first);
	put(3, skb->protocol);
	skb->cb[1] = 9;
	return skb->len;
}

SEC("cgroup_skb/ingress")
int cg_skb(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (data + 20 > data_end)
		return 0;
	put(4, ((__u8 *)data)[9]);
	put(5, skb->len);
	/* the test run's socket: AF_INET, remote = the IPv4 destination */
	put(7, skb->family);
	put(8, skb->remote_ip4);
	skb->mark = 5;
	return 1;
}

SEC("tc")
int bad_len(struct __sk_buff *skb)
{
	skb->len = 5;
	return 0;
}

NOINLINE void set_len(struct __sk_buff *skb)
{
	skb->len = 7;
}

SEC("tc")
int len_in_call(struct __sk_buff *skb)
{
	set_len(skb);
	return 0;
}

SEC("socket")
int bad_mark(struct __sk_buff *skb)
{
	skb->mark = 5;
	return 0;
}

SEC("kprobe/do_sys_open")
int probe(void *ctx)
{
	put(6, 77);
	return 0;
}

char _license[] SEC("license") = "GPL";
