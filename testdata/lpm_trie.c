/* BPF_MAP_TYPE_LPM_TRIE: the longest matching prefix wins. Each run
 * installs four IPv4 routes (0.0.0.0/0 -> 9, 10.0.0.0/8 -> 1,
 * 10.1.0.0/16 -> 2, 10.1.2.0/24 -> 3), looks up four addresses, removes
 * the /16 and looks up 10.1.9.9 again, which then falls back to the /8.
 * verdicts[i] holds lookup i's value (0 for none); the program returns
 * them as the decimal digits of one number. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct ipv4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8);
	__type(key, struct ipv4_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} verdicts SEC(".maps");

static __always_inline void route(__u32 len, __u8 a, __u8 b, __u8 c, __u32 to)
{
	struct ipv4_key key = { len, { a, b, c, 0 } };

	bpf_map_update_elem(&routes, &key, &to, BPF_ANY);
}

static __always_inline __u32 lookup(__u32 slot, __u8 a, __u8 b, __u8 c, __u8 d)
{
	struct ipv4_key key = { 32, { a, b, c, d } };
	__u32 *to = bpf_map_lookup_elem(&routes, &key);
	__u32 found = to ? *to : 0;
	__u32 *verdict = bpf_map_lookup_elem(&verdicts, &slot);

	if (verdict)
		*verdict = found;
	return found;
}

SEC("socket")
int lpm_lookup(void *ctx)
{
	struct ipv4_key sixteen = { 16, { 10, 1, 0, 0 } };
	__u32 digits;

	route(0, 0, 0, 0, 9);
	route(8, 10, 0, 0, 1);
	route(16, 10, 1, 0, 2);
	route(24, 10, 1, 2, 3);
	digits = lookup(0, 10, 1, 2, 3);		/* /24: 3 */
	digits = digits * 10 + lookup(1, 10, 1, 9, 9);	/* /16: 2 */
	digits = digits * 10 + lookup(2, 10, 200, 0, 1);	/* /8: 1 */
	digits = digits * 10 + lookup(3, 192, 168, 0, 1);	/* /0: 9 */
	bpf_map_delete_elem(&routes, &sixteen);
	digits = digits * 10 + lookup(4, 10, 1, 9, 9);	/* /8 now: 1 */
	return digits;
}

char _license[] SEC("license") = "GPL";
