/* Definitions shared by the tinybpf test programs.
 *
 * Maps are declared the old way: one struct bpf_map_def per map, placed in
 * the ELF section "maps". The loader takes each symbol's size as the stride.
 * Helper prototypes and SEC() come from libbpf's bpf_helpers.h. */
#ifndef TINYBPF_TESTDATA_COMMON_H
#define TINYBPF_TESTDATA_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Five 32-bit fields, 20 bytes per map symbol. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

/* Keep a static function out of line, so it stays a BPF-to-BPF call. */
#define NOINLINE static __attribute__((noinline))

#endif
