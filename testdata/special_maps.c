/* Maps whose entries name something outside the map, declared the libbpf
 * way and filled from user space (tinybpf run --maps-in, or the library):
 * a DEVMAP and a CPUMAP (XDP redirect targets), an XSKMAP (AF_XDP
 * sockets), a PROG_ARRAY (tail-call targets), a RINGBUF and a
 * PERF_EVENT_ARRAY (event output; max_entries 0 means one entry per
 * possible CPU, as libbpf creates it). Their own helpers (bpf_redirect_map,
 * bpf_tail_call, bpf_ringbuf_*, bpf_perf_event_output) come later.
 *
 * use_devmap looks entries up, which programs may do in a devmap and an
 * xskmap: it returns the ifindex of tx_ports[0] (0 when empty), plus 1000
 * when xsks[0] holds a socket. The other two programs break the kernel
 * verifier's rules (a lookup in a program array, an update of a devmap)
 * and must be refused at load time. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpu_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jump_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

SEC("xdp")
int use_devmap(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct bpf_devmap_val *port = bpf_map_lookup_elem(&tx_ports, &zero);
	int verdict = port ? port->ifindex : 0;

	if (bpf_map_lookup_elem(&xsks, &zero))
		verdict += 1000;
	return verdict;
}

SEC("socket")
int lookup_prog_array(void *ctx)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&jump_table, &zero) != 0;
}

SEC("socket")
int update_devmap(void *ctx)
{
	__u32 zero = 0;
	struct bpf_devmap_val port = { .ifindex = 1 };

	return bpf_map_update_elem(&tx_ports, &zero, &port, BPF_ANY);
}

char _license[] SEC("license") = "GPL";
