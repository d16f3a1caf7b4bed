/* Global variables described by BTF: a struct and a signed 64-bit value in
 * .data, an array and a file-local counter in .bss, and in .rodata a
 * `const volatile` configuration struct (with bitfields) and a limit, the
 * way libbpf skeletons let user space set them before loading. The loader
 * names each variable with its section, offset, size and type. The input
 * memory is not read. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct config {
	__u32 scale;
	__s16 offset;
	__u8 flags;
	__u8 mode : 3;
	__u8 verbose : 1;
};

struct stats {
	__u64 runs;
	__s32 last;
	__u16 hist[4];
};

/* .rodata */
const volatile struct config config = {
	.scale = 3,
	.offset = -2,
	.flags = 0x81,
	.mode = 5,
	.verbose = 1,
};
const volatile __u32 limit = 100;

/* .data */
struct stats stats = { .runs = 10 };
__s64 total = -5;

/* .bss */
__u32 seen[3];
static volatile __u64 local_hits;

SEC("socket")
int btf_globals(void *ctx)
{
	__s32 value = (__s32)config.scale * 7 + config.offset;

	stats.runs++;
	stats.last = value;
	stats.hist[config.mode & 3]++;
	total += value;
	seen[stats.runs % 3] += config.flags;
	local_hits += config.verbose;
	if (stats.runs > limit)
		return 0;
	return value + (config.flags & 0x0f);
}

char _license[] SEC("license") = "GPL";
