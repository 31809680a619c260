#!/usr/bin/env bash
# Sets up a fresh Debian machine for Vigil, idempotently: system packages,
# npm packages, the native addon, the BPF objects, generated codecs and the
# TypeScript build. When everything is in place it only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "vigil setup: run as root (eBPF needs CAP_BPF/CAP_SYS_ADMIN, and packages are installed with apt-get)" >&2
  exit 1
fi

# Build toolchain and libbpf; iproute2 for namespaced network tests; peers
# (bpftrace, libbpf-tools, strace, perf) that the benchmarks measure against;
# chromium (headless) renders the profiler's flame graph SVG in its tests;
# iptables and nftables are the XDP firewall benchmark's peers; iperf3 drives
# the bandwidth manager's tests and benchmark; prometheus scrapes the metrics
# endpoint in its tests (they run their own server on a loopback port; the
# package's service is left as Debian sets it up); nginx, redis, postgresql,
# golang-go builds the L7 TLS test's Go HTTPS server (standard library only, no
# network) and gnutls-bin gives it gnutls-cli, a GnuTLS client.
# mariadb and curl are the real servers and clients of the L7 tests (each test starts
# its own on a free loopback port in a scratch directory); containerd (with
# runc) runs the container-runtime tests' pods (they start their own daemon,
# with its own directories and socket).
PACKAGES=(clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config bpftool make g++ python3
          iproute2 iputils-ping bpftrace libbpf-tools strace linux-perf chromium
          iptables nftables iperf3 prometheus nginx-light redis-server postgresql mariadb-server curl containerd wrk
          podman golang-go gnutls-bin)

APT_WHO="vigil setup"
. scripts/apt.sh
apt_install_missing "${PACKAGES[@]}"

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "vigil setup: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm packages (this also builds the native addon through node-gyp). Skipped
# when node_modules matches the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "vigil setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

exec bash scripts/build.sh
