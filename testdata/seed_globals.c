/* The 'global variables' example from the 2014 array-map patch: a
 * one-element array whose single value (key 0) holds the program's state
 * between events. Each run feeds 64 events; event i has the latency
 * delta = 10 + ((i * 13) & 31). The first 100 events are summed, then the
 * average is fixed and every later event only counts as missed.
 * The input memory is not read. */
#include "common.h"

struct globals {
	__u64 lat_ave;
	__u64 lat_sum;
	__u64 missed;
	__u64 max_lat;
	int num_samples;
};

struct bpf_map_def SEC("maps") global_map = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(int),
	.value_size = sizeof(struct globals),
	.max_entries = 1,
};

SEC("socket")
int seed_globals(void *ctx)
{
	for (__u32 i = 0; i < 64; i++) {
		__u64 delta = 10 + ((i * 13) & 31);
		int ind = 0;
		struct globals *g = bpf_map_lookup_elem(&global_map, &ind);

		if (!g)
			return 0;
		if (delta > g->max_lat)
			g->max_lat = delta;
		if (g->lat_ave == 0) {
			g->num_samples++;
			g->lat_sum += delta;
			if (g->num_samples >= 100)
				g->lat_ave = g->lat_sum / g->num_samples;
		} else {
			g->missed++;
		}
	}

	int ind = 0;
	struct globals *g = bpf_map_lookup_elem(&global_map, &ind);

	return g ? g->num_samples : 0;
}

char _license[] SEC("license") = "GPL";
