/* Four array maps with different value sizes in one object, all touched by
 * one program: 8-byte counters, 12-byte triples (three u32, not a multiple
 * of 8), 5-byte records (not a multiple of 4 either) and 2-byte values.
 * With a value size that is not a multiple of 8, each element still takes a
 * whole number of 8-byte slots, and a program sees exactly value_size bytes.
 * The input memory is not read. */
#include "common.h"

struct triple {
	__u32 a;
	__u32 b;
	__u32 c;
};

struct five {
	__u8 b[5];
};

struct bpf_map_def SEC("maps") counters = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct bpf_map_def SEC("maps") triples = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct triple),
	.max_entries = 3,
};

struct bpf_map_def SEC("maps") fives = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct five),
	.max_entries = 2,
};

struct bpf_map_def SEC("maps") shorts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u16),
	.max_entries = 5,
};

SEC("socket")
int multi_maps(void *ctx)
{
	__u32 k0 = 0, k1 = 1, k2 = 2, k3 = 3, k4 = 4;

	__u64 *runs = bpf_map_lookup_elem(&counters, &k0);
	__u64 *big = bpf_map_lookup_elem(&counters, &k3);
	struct triple *t1 = bpf_map_lookup_elem(&triples, &k1);
	struct triple *t2 = bpf_map_lookup_elem(&triples, &k2);
	struct five *f1 = bpf_map_lookup_elem(&fives, &k1);
	__u16 *s4 = bpf_map_lookup_elem(&shorts, &k4);

	if (!runs || !big || !t1 || !t2 || !f1 || !s4)
		return -1;

	*runs += 1;
	*big += 0x100;

	t1->a += 1;
	t1->b ^= 0xff;
	t1->c = t1->a * 3;
	t2->a = 0xdeadbeef;
	t2->c = 0x01020304;

	f1->b[0] += 1;
	f1->b[2] = f1->b[0] ^ 0x0f;
	f1->b[4] = 0x55;

	*s4 -= 1;

	return t1->a + f1->b[0];
}

char _license[] SEC("license") = "GPL";
