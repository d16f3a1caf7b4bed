/* A socket filter calling bpf_get_socket_cookie (46), a kernel helper
 * tinybpf does not implement: loading it for a run fails naming the helper,
 * and `tinybpf disasm` still lists it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int socket_cookie(struct __sk_buff *skb)
{
	return bpf_get_socket_cookie(skb) != 0;
}

char LICENSE[] SEC("license") = "GPL";
