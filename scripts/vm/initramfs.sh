#!/usr/bin/env bash
# Builds the initramfs the kernel-matrix VMs boot (uncompressed newc cpio:
# the kernel unpacks it without spending emulated cycles on gunzip).
#
#   initramfs.sh common OUT
#       The part every kernel shares: busybox, node, the host tools the tests
#       run (with their shared libraries, found with ldd), the built project
#       under /vigil, and /init (scripts/vm/init).
#   initramfs.sh kernel SERIES OUT COMMON TEST...
#       COMMON followed by a small archive for one kernel: the kernel modules
#       the tests need (unpacked, in load order), the kernel's config in
#       /boot, and the list of test files to run. The kernel accepts
#       concatenated cpio archives.
#
# Everything is staged under .vm/initramfs/ and built anew on each call (it
# takes a second or two); the project must be built already (npm run build).
set -euo pipefail
cd "$(dirname "$0")/../.."

VM_DIR=${VIGIL_VM_DIR:-.vm}

# Host programs the tests run inside the VM (besides node and busybox's
# applets). Add one here when a test in the tier needs it (bpftool:
# test/netpolicy.test.ts checks a cgroup's attachments with it).
TOOLS=(ip tc bpftool iperf3)

# Kernel modules the tests need (Debian builds them as modules); their
# dependencies come along. Names missing from a kernel (built in) are skipped.
KERNEL_MODULES=(veth sch_ingress cls_bpf act_bpf dummy sch_fq sch_htb cls_u32)

# The built project, as the tests find it (paths relative to the repository).
PROJECT=(package.json bin dist policies node_modules build/Release/vigil_native.node
         bpf/.output test/.output bench/.output test/fixtures test/vm)

die() { echo "vigil vm initramfs: $*" >&2; exit 1; }

# Copies host file $1 (following symlinks) to the same path under staging $2.
put() {
  mkdir -p "$2$(dirname "$1")"
  cp -L --preserve=mode "$1" "$2$1"
}

# Copies the shared libraries ELF file $1 needs (and the dynamic loader) into $2.
put_libs() {
  local lib
  # ldd prints "name => /path (addr)" or "/path (addr)"; "not a dynamic
  # executable" (static files) prints nothing useful and is fine.
  for lib in $(ldd "$1" 2>/dev/null | awk '/=> \// {print $3} /^\t\// {print $1}'); do
    [ -e "$2$lib" ] || put "$lib" "$2"
  done
}

build_common() {
  local out=$1 stage="$VM_DIR/initramfs/common"
  local node tool f
  [ -f dist/test/features.test.js ] || die "dist/ is not built: run npm run build (or npm run setup)"
  [ -f build/Release/vigil_native.node ] || die "the native addon is not built: run npm run setup"
  rm -rf "$stage"
  mkdir -p "$stage"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run,etc/vigil,root,var,vigil}
  # Merged /usr, like the host, so ldd's paths hold inside too.
  ln -s usr/bin "$stage/bin"
  ln -s usr/sbin "$stage/sbin"
  ln -s usr/lib "$stage/lib"
  ln -s usr/lib64 "$stage/lib64"
  ln -s ../run "$stage/var/run"

  # node, wherever it is installed, at /usr/bin/node (PATH finds it).
  node=$(readlink -f "$(command -v node)")
  cp "$node" "$stage/usr/bin/node"
  put_libs "$node" "$stage"

  for tool in "${TOOLS[@]}"; do
    f=$(command -v "$tool") || die "$tool is not installed (scripts/vm/setup.sh installs it)"
    f=$(readlink -f "$f")
    cp "$f" "$stage/usr/sbin/$tool"
    put_libs "$f" "$stage"
  done

  # busybox for everything else: one link per applet in /usr/bin, except
  # where a real program is already in place.
  cp /bin/busybox "$stage/usr/bin/busybox"
  for f in $(/bin/busybox --list); do
    [ -e "$stage/usr/bin/$f" ] || [ -e "$stage/usr/sbin/$f" ] || ln -s busybox "$stage/usr/bin/$f"
  done

  # The project, and the libraries of its native pieces: the addon (libbpf,
  # libelf, zlib) and the test and benchmark fixture programs.
  for f in "${PROJECT[@]}"; do
    [ -e "$f" ] || continue
    mkdir -p "$stage/vigil/$(dirname "$f")"
    cp -a "$f" "$stage/vigil/$f"
  done
  # The objects go with their signatures and the public key that checks them; the build's private
  # signing key stays on the host.
  rm -f "$stage/vigil/bpf/.output/signing/build.key"
  while IFS= read -r -d '' f; do
    if head -c 4 "$f" | grep -q ELF; then put_libs "$f" "$stage"; fi
  done < <(find "$stage/vigil/build" "$stage/vigil/test/.output" "$stage/vigil/bench/.output" -type f -print0 2>/dev/null)

  # A minimal /etc: root, localhost, files-only name lookups.
  echo 'root:x:0:0:root:/root:/bin/sh' >"$stage/etc/passwd"
  echo 'root:x:0:' >"$stage/etc/group"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$stage/etc/hosts"
  printf 'passwd: files\ngroup: files\nhosts: files\n' >"$stage/etc/nsswitch.conf"

  install -m 0755 scripts/vm/init "$stage/init"
  pack "$stage" "$out"
  rm -rf "$stage"
}

build_kernel() {
  local series=$1 out=$2 common=$3
  shift 3
  local stage="$VM_DIR/initramfs/$series" env="$VM_DIR/kernels/$series/kernel.env"
  local RELEASE MODULES name line dep
  [ -f "$env" ] || die "kernel $series is not set up (scripts/vm/setup.sh $series)"
  # shellcheck disable=SC1090
  . "$env"
  rm -rf "$stage"
  mkdir -p "$stage/etc/vigil" "$stage/lib/modules/$RELEASE"

  # modules.dep lists each module's dependencies, the deepest last: load
  # those in reverse, then the module; each module once.
  local -A seen=()
  : >"$stage/etc/vigil/modules"
  for name in "${KERNEL_MODULES[@]}"; do
    line=$(grep -E "(^|/)$name\.ko(\.xz|\.zst|\.gz)?:" "$MODULES/modules.dep" || true)
    [ -n "$line" ] || continue
    for dep in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
      [ -n "$dep" ] && [ -z "${seen[$dep]:-}" ] || continue
      seen[$dep]=1
      local base ko
      base=$(basename "$dep")
      ko="$stage/lib/modules/$RELEASE/${base%%.ko*}.ko"
      case "$dep" in
        *.xz) xz -dc "$MODULES/$dep" >"$ko" ;;
        *.zst) zstd -qdc "$MODULES/$dep" >"$ko" ;;
        *.gz) gzip -dc "$MODULES/$dep" >"$ko" ;;
        *) cp "$MODULES/$dep" "$ko" ;;
      esac
      echo "/lib/modules/$RELEASE/${base%%.ko*}.ko" >>"$stage/etc/vigil/modules"
    done
  done

  # The kernel's config where Debian keeps it, so what `vigil features`
  # says is missing names the kernel options, as on an installed system.
  mkdir -p "$stage/boot"
  cp "$VM_DIR/kernels/$series/root/boot/config-$RELEASE" "$stage/boot/"

  # The test files to run, one a line, relative to /vigil; or, for
  # debugging, a shell command to run instead (run.mjs --exec).
  printf '%s\n' "$@" >"$stage/etc/vigil/tests"
  if [ -n "${VIGIL_VM_EXEC:-}" ]; then printf '%s\n' "$VIGIL_VM_EXEC" >"$stage/etc/vigil/exec"; fi
  pack "$stage" "$stage.cpio"
  cat "$common" "$stage.cpio" >"$out"
  rm -rf "$stage" "$stage.cpio"
}

# Packs directory $1 into newc cpio $2, owned by root.
pack() {
  (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null --create --format=newc --owner=0:0 --quiet) >"$2.tmp"
  mv "$2.tmp" "$2"
}

case "${1:-}" in
  common) [ $# -eq 2 ] || die "usage: initramfs.sh common OUT"; build_common "$2" ;;
  kernel) [ $# -ge 5 ] || die "usage: initramfs.sh kernel SERIES OUT COMMON TEST..."; build_kernel "${@:2}" ;;
  *) die "usage: initramfs.sh common OUT | kernel SERIES OUT COMMON TEST..." ;;
esac
