/* bpf_spin_lock and bpf_spin_unlock around a read-modify-write of a
 * counter that shares its array value with the lock; `forgets_unlock`
 * ends holding the lock (the kernel's verifier would refuse it: tinybpf
 * releases it when the run ends); `locks_twice` takes a second lock. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct guarded {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 counter;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guarded);
} guarded SEC(".maps");

SEC("socket")
int locked_add(void *ctx)
{
	__u32 key = 0;
	struct guarded *g = bpf_map_lookup_elem(&guarded, &key);

	if (!g)
		return 0;
	bpf_spin_lock(&g->lock);
	/* A read, then a write: without the lock, runs on other threads
	 * would lose updates in between. */
	__u64 seen = *(volatile __u64 *)&g->counter;
	/* Widen the window between the read and the write. */
	for (int i = 0; i < 64; i++)
		*(volatile __u32 *)&g->pad += 1;
	*(volatile __u64 *)&g->counter = seen + 1;
	bpf_spin_unlock(&g->lock);
	return 1;
}

SEC("socket")
int forgets_unlock(void *ctx)
{
	__u32 key = 0;
	struct guarded *g = bpf_map_lookup_elem(&guarded, &key);

	if (!g)
		return 0;
	bpf_spin_lock(&g->lock);
	g->counter += 100;
	return 2;
}

SEC("socket")
int locks_twice(void *ctx)
{
	__u32 key = 0;
	struct guarded *g = bpf_map_lookup_elem(&guarded, &key);

	if (!g)
		return 0;
	bpf_spin_lock(&g->lock);
	bpf_spin_lock(&g->lock);
	return 3;
}

char LICENSE[] SEC("license") = "GPL";
