#!/usr/bin/env bash
# Sets up what the kernel-matrix VMs need, idempotently, and prints one line
# per kernel: "<series> <package> <version> <release> <vmlinuz>".
#
# - Debian packages (through apt-get): QEMU, a static busybox for the VM's
#   userland, cpio to pack the initramfs, kmod (depmod, to order the few
#   kernel modules the tests need), xz/zstd to unpack them, iproute2 (ip and
#   tc, used by the network tests inside the VM).
# - The kernels: each series' Debian cloud kernel package is fetched with
#   `apt-get download` and unpacked with `dpkg -x` under .vm/kernels/<series>/.
#   Nothing is installed into the host's /boot or /lib/modules, and the host
#   never boots these kernels: QEMU loads vmlinuz directly.
#
# Versions are pinned where Debian keeps them; when the archive no longer has
# the pinned version, the newest package of the same series is used (and the
# runner's report says which kernel ran). An unpacked kernel is reused as long
# as its pin is unchanged, so a second run asks apt nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

VM_DIR=${VIGIL_VM_DIR:-.vm}

if [ "$(id -u)" != 0 ]; then
  echo "vigil vm setup: run as root (packages are installed with apt-get)" >&2
  exit 1
fi

# series | pinned package | pinned version | regex for the newest of the series
KERNELS=(
  "6.1|linux-image-6.1.0-57-cloud-amd64|6.1.192-3|^linux-image-6\.1\.0-[0-9]+-cloud-amd64\$"
  "6.12|linux-image-6.12.118+deb12-cloud-amd64|6.12.118-1~deb12u1|^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64\$"
)
# Which series to prepare (default: all), e.g. `setup.sh 6.1`.
WANT=("$@")

PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils zstd iproute2)

APT_WHO="vigil vm setup"
. scripts/apt.sh
apt_install_missing "${PACKAGES[@]}"

# Whether apt knows package $1 at version $2 (apt-cache show exits 0 on an
# unknown version; madison lists the versions there are).
apt_has() { apt-cache madison "$1" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep -qxF "$2"; }

# The newest package (name and version) whose name matches regex $1.
newest_of_series() {
  local name
  name=$(apt-cache search --names-only "$1" 2>/dev/null | awk '{print $1}' | grep -E "$1" | sort -V | tail -n 1)
  [ -n "$name" ] || return 1
  echo "$name $(apt-cache policy "$name" | awk '/Candidate:/ {print $2}')"
}

for entry in "${KERNELS[@]}"; do
  IFS='|' read -r series pkg ver series_re <<<"$entry"
  if [ ${#WANT[@]} -gt 0 ] && [[ ! " ${WANT[*]} " == *" $series "* ]]; then continue; fi
  dir="$VM_DIR/kernels/$series"
  stamp="$dir/kernel.env"
  pin="$pkg=$ver"

  if [ ! -f "$stamp" ] || [ "$(sed -n 's/^PIN=//p' "$stamp")" != "$pin" ]; then
    # Which package to fetch: the pin, or the newest of the series.
    if ! apt_has "$pkg" "$ver"; then apt_update; fi
    use_pkg=$pkg use_ver=$ver
    if ! apt_has "$pkg" "$ver"; then
      if ! read -r use_pkg use_ver < <(newest_of_series "$series_re"); then
        echo "vigil vm setup: no $series kernel package in apt (pinned $pin)" >&2
        exit 1
      fi
      echo "vigil vm setup: $pin is no longer in the archive; using $use_pkg=$use_ver" >&2
    fi

    echo "vigil vm setup: fetching $use_pkg=$use_ver" >&2
    rm -rf "$dir"
    mkdir -p "$dir/deb"
    # apt's download sandbox user must be able to write there.
    chown _apt "$dir/deb" 2>/dev/null || true
    (cd "$dir/deb" && apt-get download -qq "$use_pkg=$use_ver" >&2)
    dpkg -x "$dir"/deb/*.deb "$dir/root"
    rm -rf "$dir/deb"

    # The release (uname -r) is the name of the modules directory.
    moddir=
    for d in "$dir"/root/lib/modules/* "$dir"/root/usr/lib/modules/*; do
      if [ -d "$d" ]; then moddir=$d; break; fi
    done
    [ -n "$moddir" ] || { echo "vigil vm setup: no modules directory in $use_pkg" >&2; exit 1; }
    release=$(basename "$moddir")
    vmlinuz="$dir/root/boot/vmlinuz-$release"
    [ -f "$vmlinuz" ] || { echo "vigil vm setup: no vmlinuz in $use_pkg" >&2; exit 1; }
    # modules.dep, so the initramfs builder can order the modules it takes.
    # (depmod -b takes the root above lib/modules: root/ or root/usr/.)
    depmod -b "$(dirname "$(dirname "$(dirname "$moddir")")")" "$release"

    cat >"$stamp" <<STAMP
PIN=$pin
PACKAGE=$use_pkg
VERSION=$use_ver
RELEASE=$release
VMLINUZ=$vmlinuz
MODULES=$moddir
STAMP
  fi
  # shellcheck disable=SC1090
  (. "$stamp"; echo "$series $PACKAGE $VERSION $RELEASE $VMLINUZ")
done
