#!/bin/sh
# The workloads in one sitting: the kernel's JIT (BPF_PROG_TEST_RUN, repeat
# 100000, through test_run.c), tinybpf's interpreter and tinybpf's compiled
# tier (`tinybpf run W.o --repeat 20000 --json`, without and with --jit),
# interleaved round by round so that all three see the same machine; then
# the median ns per run of each and the ratios to the kernel.
#
#   sudo benches/kernel/run.sh [ROUNDS] [WORKLOAD...]     (default 7 rounds, all five)
#
# Needs root (BPF_PROG_TEST_RUN), cc and libelf-dev, the workloads in
# $TINYBPF_SHARED/workloads (default ../shared/workloads), and a release
# tinybpf with the jit feature (built here if missing: `cargo build --release
# --features jit`). CI does not run it.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${TINYBPF_SHARED:-$root/../shared}
case $shared in /*) ;; *) shared=$root/$shared ;; esac
dir=$shared/workloads
rounds=${1:-7}
[ $# -gt 0 ] && shift
workloads=${*:-alu_loop globals globals_hoisted histogram packet_counter}
out=$root/target/kernel-bench
mkdir -p "$out"
cc -O2 -Wall -Wextra -o "$out/test_run" "$root/benches/kernel/test_run.c" -lelf
tinybpf=$root/target/release/tinybpf
[ -x "$tinybpf" ] || (cd "$root" && nice cargo build --release --features jit --bin tinybpf)
"$tinybpf" run "$dir/alu_loop.o" --jit | grep -q '^tier: compiled' || {
	echo "run.sh: $tinybpf does not compile (build it with --features jit)" >&2
	exit 1
}

# The kernel's test run keeps preemption off and stops its clock while it
# yields the CPU (net/bpf/test_run.c); tinybpf's wall clock does not stop.
# Every measurement runs under SCHED_FIFO so that other work on a loaded
# machine does not preempt either side.
rt=""
command -v chrt >/dev/null && chrt -f 1 true 2>/dev/null && rt="chrt -f 1"

samples=$out/samples.txt
: >"$samples"
ns() { sed -n 's/.*"ns_per_run": \([0-9.]*\).*/\1/p'; }
round=1
while [ "$round" -le "$rounds" ]; do
	for w in $workloads; do
		k=$($rt "$out/test_run" "$dir/$w.o" --repeat 100000 | sed -n 's/.*ns_per_run=//p')
		i=$($rt "$tinybpf" run "$dir/$w.o" --repeat 20000 --json | ns)
		c=$($rt "$tinybpf" run "$dir/$w.o" --repeat 20000 --json --jit | ns)
		echo "$w kernel $k" >>"$samples"
		echo "$w interpreter $i" >>"$samples"
		echo "$w compiled $c" >>"$samples"
	done
	echo "round $round of $rounds done" >&2
	round=$((round + 1))
done

median() { grep "^$1 $2 " "$samples" | cut -d' ' -f3 | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
best() { grep "^$1 $2 " "$samples" | cut -d' ' -f3 | sort -g | head -1; }
printf '%-16s %9s %12s %9s %9s %9s %9s\n' workload kernel interpreter compiled comp/kern int/kern best-c/k
for w in $workloads; do
	k=$(median "$w" kernel)
	i=$(median "$w" interpreter)
	c=$(median "$w" compiled)
	bk=$(best "$w" kernel)
	bc=$(best "$w" compiled)
	awk -v w="$w" -v k="$k" -v i="$i" -v c="$c" -v bk="$bk" -v bc="$bc" 'BEGIN { printf "%-16s %9.1f %12.1f %9.1f %8.2fx %8.2fx %8.2fx\n", w, k, i, c, c / k, i / k, bc / bk }'
done
echo "(ns per run: medians of $rounds interleaved rounds${rt:+ under $rt}; best-c/k: the fastest compiled round over the fastest kernel round; every sample in $samples)"
