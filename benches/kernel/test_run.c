/* The kernel's side of the workload benchmark: loads one XDP program of a
 * clang-compiled object that declares its maps the legacy way (SEC("maps"),
 * struct bpf_map_def of five u32s, which libbpf 1.x refuses), and times it
 * with BPF_PROG_TEST_RUN.
 *
 * It creates every map the object declares, points each map ld_imm64 of the
 * program at its map's fd, loads the program (the kernel verifies and JITs
 * it) and runs BPF_PROG_TEST_RUN with the given repeat count over the
 * 64-byte frame tinybpf's default_packet() builds (src/packet.rs). The
 * kernel's `duration` is its mean ns per run over the repeats. The maps keep
 * their state between rounds, as tinybpf's do between its runs.
 *
 *   test_run OBJ.o [--section SEC] [--repeat N] [--rounds R]
 *
 * prints one line per round: "NAME retval=R ns_per_run=D". Needs root (or
 * CAP_BPF + CAP_NET_ADMIN). Only raw bpf(2) calls and libelf: build with
 * `cc -O2 -o test_run test_run.c -lelf` (run.sh does).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_MAPS 64

struct legacy_map_def {
	uint32_t type, key_size, value_size, max_entries, map_flags;
};

static void die(const char *what)
{
	fprintf(stderr, "test_run: %s: %s\n", what, errno ? strerror(errno) : "bad object");
	exit(1);
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* tinybpf's default_packet(): Ethernet 02:00:00:00:00:01 -> 02:00:00:00:00:02,
 * IPv4 10.0.0.1 -> 10.0.0.2 (total length 50, TTL 64, TCP), TCP 12345 -> 80,
 * zero padding to 64 bytes. */
static void default_packet(uint8_t frame[64])
{
	static const uint8_t head[] = {
		0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
		0x45, 0, 0, 50, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x30, 0x39, 0, 80,
	};
	memset(frame, 0, 64);
	memcpy(frame, head, sizeof(head));
}

int main(int argc, char **argv)
{
	const char *path = NULL, *want = "xdp";
	unsigned long repeat = 100000, rounds = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--section") && i + 1 < argc)
			want = argv[++i];
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = strtoul(argv[++i], NULL, 10);
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			fprintf(stderr, "usage: test_run OBJ.o [--section SEC] [--repeat N] [--rounds R]\n");
			return 2;
		}
	}
	if (!path || repeat == 0 || repeat > UINT32_MAX)
		die("usage: test_run OBJ.o [--section SEC] [--repeat N] [--rounds R]");

	elf_version(EV_CURRENT);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	size_t shstrndx;
	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		die("elf");

	Elf_Scn *scn = NULL, *prog_scn = NULL, *symtab = NULL, *rel_scn = NULL;
	Elf_Data *maps_data = NULL, *license = NULL;
	size_t maps_index = 0, prog_index = 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		gelf_getshdr(scn, &sh);
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			symtab = scn;
		else if (!strcmp(name, "maps")) {
			maps_data = elf_getdata(scn, NULL);
			maps_index = elf_ndxscn(scn);
		} else if (!strcmp(name, "license"))
			license = elf_getdata(scn, NULL);
		else if (!strcmp(name, want) && (sh.sh_flags & SHF_EXECINSTR)) {
			prog_scn = scn;
			prog_index = elf_ndxscn(scn);
		}
	}
	if (!prog_scn || !symtab || !license)
		die("no program section, symbol table or license");
	scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		gelf_getshdr(scn, &sh);
		if (sh.sh_type == SHT_REL && sh.sh_info == prog_index)
			rel_scn = scn;
	}

	Elf_Data *code_data = elf_getdata(prog_scn, NULL);
	size_t insn_count = code_data->d_size / sizeof(struct bpf_insn);
	struct bpf_insn *insns = malloc(code_data->d_size);
	if (!insns)
		die("malloc");
	memcpy(insns, code_data->d_buf, code_data->d_size);

	/* One map per symbol in SEC("maps"), created on first use. */
	Elf_Data *syms = elf_getdata(symtab, NULL);
	GElf_Shdr symtab_sh;
	gelf_getshdr(symtab, &symtab_sh);
	int map_fd_at[MAX_MAPS];
	uint64_t map_off_at[MAX_MAPS];
	size_t nmaps = 0;
	if (rel_scn) {
		Elf_Data *rels = elf_getdata(rel_scn, NULL);
		GElf_Shdr rel_sh;
		gelf_getshdr(rel_scn, &rel_sh);
		for (size_t r = 0; r < rel_sh.sh_size / rel_sh.sh_entsize; r++) {
			GElf_Rel rel;
			GElf_Sym sym;
			gelf_getrel(rels, r, &rel);
			gelf_getsym(syms, GELF_R_SYM(rel.r_info), &sym);
			size_t at = rel.r_offset / sizeof(struct bpf_insn);
			if (sym.st_shndx != maps_index || !maps_data || at + 1 >= insn_count ||
			    insns[at].code != (BPF_LD | BPF_IMM | BPF_DW))
				die("a relocation other than a map ld_imm64");
			if (sym.st_value + sizeof(struct legacy_map_def) > maps_data->d_size)
				die("map definition past the maps section");
			size_t m = 0;
			while (m < nmaps && map_off_at[m] != sym.st_value)
				m++;
			if (m == nmaps) {
				if (nmaps == MAX_MAPS)
					die("too many maps");
				struct legacy_map_def def;
				memcpy(&def, (char *)maps_data->d_buf + sym.st_value, sizeof(def));
				union bpf_attr attr;
				memset(&attr, 0, sizeof(attr));
				attr.map_type = def.type;
				attr.key_size = def.key_size;
				attr.value_size = def.value_size;
				attr.max_entries = def.max_entries;
				attr.map_flags = def.map_flags;
				int map_fd = sys_bpf(BPF_MAP_CREATE, &attr);
				if (map_fd < 0)
					die("BPF_MAP_CREATE");
				map_fd_at[m] = map_fd;
				map_off_at[m] = sym.st_value;
				nmaps++;
			}
			insns[at].src_reg = BPF_PSEUDO_MAP_FD;
			insns[at].imm = map_fd_at[m];
		}
	}

	static char log[1 << 16];
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_XDP;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = insn_count;
	attr.license = (uint64_t)(uintptr_t)license->d_buf;
	int prog_fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (prog_fd < 0) {
		/* Again with the verifier's log, to say why. */
		attr.log_buf = (uint64_t)(uintptr_t)log;
		attr.log_size = sizeof(log);
		attr.log_level = 1;
		if (sys_bpf(BPF_PROG_LOAD, &attr) < 0)
			fprintf(stderr, "%s\n", log);
		die("BPF_PROG_LOAD");
	}

	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	uint8_t in[64], out[64 + 256];
	default_packet(in);
	for (unsigned long round = 0; round < rounds; round++) {
		memset(&attr, 0, sizeof(attr));
		attr.test.prog_fd = prog_fd;
		attr.test.data_in = (uint64_t)(uintptr_t)in;
		attr.test.data_size_in = sizeof(in);
		attr.test.data_out = (uint64_t)(uintptr_t)out;
		attr.test.data_size_out = sizeof(out);
		attr.test.repeat = repeat;
		if (sys_bpf(BPF_PROG_TEST_RUN, &attr))
			die("BPF_PROG_TEST_RUN");
		printf("%.*s retval=%u ns_per_run=%u\n", (int)(strcspn(base, ".")), base,
		       attr.test.retval, attr.test.duration);
		fflush(stdout);
	}
	return 0;
}
