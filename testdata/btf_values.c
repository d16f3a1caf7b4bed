/* Rich BTF types for the value formatter and encoder (loader/tests/
 * btf_values.rs): every integer width and signedness, _Bool, char arrays
 * (strings and not), enums (unsigned, negative, 64-bit, as a bitfield),
 * bitfields across byte boundaries and signed ones, nested anonymous
 * structs and unions, multi-dimensional and zero-length arrays, a pointer,
 * float, double and __int128. They appear as a hash map's key and value
 * (struct flow_key -> struct record) and as global variables in .rodata
 * (a `const volatile` configuration), .data and .bss (a 1 MiB char array).
 * The program only touches each global so that it is kept; its result is
 * not checked. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum proto { PROTO_TCP = 6, PROTO_UDP = 17 };
enum level { LEVEL_LOW = -1, LEVEL_MID = 0, LEVEL_HIGH = 1 };
enum wide { WIDE_SMALL = 1, WIDE_BIG = 0x100000000ULL, WIDE_TOP = 0xffffffffffffffffULL };

typedef char ifname_t[8];

struct flow_key {
	__u32 saddr;
	__u16 sport;
	__u8 proto;
	__u8 pad;
};

struct record {
	__u8 u8;
	__s8 s8;
	__u16 u16;
	__s16 s16;
	__u32 u32;
	__s32 s32;
	__u64 u64;
	__s64 s64;
	_Bool ok;
	char name[16];
	char tag[4];
	ifname_t ifname;
	__u8 mac[6];
	enum proto proto;
	enum level level;
	enum wide wide;
	/* bitfields: 5 + 10 + 17 bits over one __u32, the second and third
	 * crossing byte boundaries; a signed one; an enum one */
	__u32 low : 5;
	__u32 mid : 10;
	__u32 high : 17;
	__s32 delta : 7;
	enum proto kind : 8;
	__u64 wide_bits : 40;
	struct {
		__u16 inner_a;
		union {
			__u32 as_u32;
			__u8 as_bytes[4];
		};
	};
	__u16 grid[2][3];
	float ratio;
	double mean;
	void *where;
	unsigned __int128 big;
	__int128 sbig;
	__u32 tail[0];
};

struct config {
	__u32 limits[3];
	char label[12];
	enum level level;
	struct {
		__u8 enabled : 1;
		__u8 mode : 3;
	} flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct flow_key);
	__type(value, struct record);
} records SEC(".maps");

/* .rodata */
const volatile struct config config = {
	.limits = { 10, 20, 30 },
	.label = "default",
	.level = LEVEL_HIGH,
	.flags = { .enabled = 1, .mode = 5 },
};

/* .data */
struct record sample = {
	.u8 = 200,
	.s8 = -100,
	.u16 = 60000,
	.s16 = -30000,
	.u32 = 4000000000u,
	.s32 = -2000000000,
	.u64 = 18000000000000000000ull,
	.s64 = -9000000000000000000ll,
	.ok = 1,
	.name = "eth0",
	.tag = { 'a', 'b', 'c', 'd' },
	.ifname = "lo",
	.mac = { 0x02, 0, 0, 0, 0, 0xff },
	.proto = PROTO_UDP,
	.level = LEVEL_LOW,
	.wide = WIDE_BIG,
	.low = 31,
	.mid = 513,
	.high = 65537,
	.delta = -3,
	.kind = PROTO_TCP,
	.wide_bits = 0x123456789aull,
	.inner_a = 7,
	.as_u32 = 0x04030201,
	.grid = { { 1, 2, 3 }, { 4, 5, 6 } },
	.ratio = 0.5f,
	.mean = -2.25,
	.where = 0,
	.big = ((unsigned __int128)1 << 100) + 5,
	.sbig = -((__int128)1 << 70),
};
__u64 hits = 1;

/* .bss */
char big_text[1 << 20];
struct flow_key last_key;

SEC("socket")
int btf_values(void *ctx)
{
	struct flow_key key = {};
	struct record *value;

	key.proto = config.flags.mode;
	value = bpf_map_lookup_elem(&records, &key);
	if (value)
		hits += value->u8;
	hits += config.limits[1] + sample.u8 + big_text[3];
	last_key.sport = 1;
	return 0;
}

char _license[] SEC("license") = "GPL";
