/* C global variables: .data (initialised, written), .rodata (const, read)
 * and .bss (zero-initialised, written). A loader backs each section with a
 * one-element array map. The volatile qualifiers stop clang from folding
 * the initial values into the code, so every access is a real load or
 * store through an lddw relocated to the variable. The input memory is not
 * read. */
#include "common.h"

/* .data */
__u64 data_total = 1000;
volatile __u32 data_flag = 0x5a;

/* .rodata */
const volatile __u32 ro_step = 3;
const volatile __u64 ro_table[4] = { 10, 20, 30, 40 };

/* .bss */
__u64 bss_runs;
__u32 bss_last;

/* File-local variables: clang relocates these against the section symbol
 * (.data or .bss) with the variable's offset in the lddw's immediate,
 * instead of against the variable's own symbol. */
static volatile __u32 data_local = 7;
static volatile __u64 bss_local;

SEC("socket")
int globals_data(void *ctx)
{
	__u64 runs = ++bss_runs;
	__u32 step = ro_step;

	data_total += step;
	data_flag ^= 0xff;
	bss_last = ro_table[runs & 3];
	data_local *= 2;
	bss_local += data_local;
	return bss_last + step;
}

char _license[] SEC("license") = "GPL";
