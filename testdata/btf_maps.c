/* BTF-defined maps (SEC(".maps")), the way libbpf programs declare them
 * today, and per-program loading: the object declares five maps of four
 * types, but the program `count_arrays` uses only the two arrays, so only
 * those are created when it loads.
 *
 * - counts: __uint/__type form, key and value sizes from the key and
 *   value types.
 * - pairs: key_size given as a number, value a struct, BPF_F_MMAPABLE.
 * - flows (hash), per_cpu (percpu_array): used only by touch_hash.
 * - jumps: a PROG_ARRAY with declarative initial values (__array(values,
 *   ...), slots 0 and 3), used only by dispatch. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pair {
	__u32 packets;
	__u32 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__type(value, struct pair);
	__uint(map_flags, BPF_F_MMAPABLE);
} pairs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct pair);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} per_cpu SEC(".maps");

int tail_zero(void *ctx);
int tail_three(void *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_zero,
		[3] = (void *)&tail_three,
	},
};

/* counts[k] += k * k + 1 for every k; pairs[2] counts one 64-byte packet;
 * a lookup past the end (key 9) finds nothing. Returns
 * 100 * packets + bytes / 64 of pairs[2]. */
SEC("socket")
int count_arrays(void *ctx)
{
	__u32 key, past_end = 9, second = 2;
	struct pair *pair;

	for (key = 0; key < 8; key++) {
		__u64 *count = bpf_map_lookup_elem(&counts, &key);

		if (count)
			*count += key * key + 1;
	}
	if (bpf_map_lookup_elem(&counts, &past_end))
		return 1;
	pair = bpf_map_lookup_elem(&pairs, &second);
	if (!pair)
		return 0;
	pair->packets += 1;
	pair->bytes += 64;
	return pair->packets * 100 + pair->bytes / 64;
}

SEC("socket")
int touch_hash(void *ctx)
{
	__u64 flow = 42;
	struct pair first = { 1, 64 };
	__u32 zero = 0;
	__u64 *cpu_count;

	bpf_map_update_elem(&flows, &flow, &first, BPF_ANY);
	cpu_count = bpf_map_lookup_elem(&per_cpu, &zero);
	if (cpu_count)
		*cpu_count += 1;
	return 0;
}

SEC("socket")
int tail_zero(void *ctx)
{
	return 10;
}

SEC("socket")
int tail_three(void *ctx)
{
	return 13;
}

SEC("socket")
int dispatch(void *ctx)
{
	bpf_tail_call(ctx, &jumps, 0);
	return 1;
}

char _license[] SEC("license") = "GPL";
