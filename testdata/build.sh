#!/bin/sh
# Rebuilds every test object from its C source. Needs clang with the BPF
# target plus the kernel uapi and libbpf headers (Debian: clang,
# linux-libc-dev, libbpf-dev). The committed .o files were built with
# Debian clang 14.0.6.
set -e
cd "$(dirname "$0")"
for src in *.c; do
	extra=""
	case "$src" in
	# The __sync_* builtins whose old value is used, and atomic or/and/xor,
	# cmpxchg and xchg exist only from BPF ISA v3 (kernel 5.12); for an
	# older CPU version clang refuses them, so this file needs -mcpu=v3.
	atomics.c) extra="-mcpu=v3" ;;
	esac
	# shellcheck disable=SC2086 # $extra is empty or a single flag
	clang -O2 -g -target bpf $extra -I/usr/include/"$(uname -m)"-linux-gnu \
		-c "$src" -o "${src%.c}.o"
done
