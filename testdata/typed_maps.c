/* Maps whose BTF types their keys and values, for the formatted table and
 * --json's "formatted": a byte array (shown as hex with offsets), a struct
 * of signed members, a hash with a struct key and an enum value, and a
 * per-CPU array of structs. The input memory is not read. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum verdict { VERDICT_PASS = 1, VERDICT_DROP = 2 };

struct point {
	__s32 x;
	__s32 y;
};

struct flow {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u8[40]);
} blobs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct point);
} points SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, struct flow);
	__type(value, enum verdict);
} verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct point);
} moves SEC(".maps");

SEC("socket")
int typed_maps(void *ctx)
{
	__u32 one = 1, two = 2;
	__u8 *blob = bpf_map_lookup_elem(&blobs, &one);
	struct point *p = bpf_map_lookup_elem(&points, &two);
	struct flow key = { .addr = 0x0100000a, .port = 80 };
	enum verdict drop = VERDICT_DROP;

	if (blob) {
		blob[0] = 0xab;
		blob[39] = 0xcd;
	}
	if (p) {
		p->x -= 3;
		p->y += 4;
	}
	bpf_map_update_elem(&verdicts, &key, &drop, BPF_ANY);
	p = bpf_map_lookup_elem(&moves, &one);
	if (p)
		p->x -= 1;
	return 0;
}

char _license[] SEC("license") = "GPL";
