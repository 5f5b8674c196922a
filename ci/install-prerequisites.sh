#!/usr/bin/env bash
# Installs what a fresh Debian (bookworm) machine lacks for `cargo xtask test`:
# QEMU, the GRUB ISO tools, `ip` and `ping` for the host-ping matrix rows (which
# also need root and /dev/net/tun, or they are skipped), Debian's Python with
# junitparser (a host test reads `cargo xtask test --junit`'s file with it), the
# DejaVu font the benchmark report's plots are drawn with (a host test draws one),
# and the Rust target the kernel builds for. Extra packages for a rump kernel build
# (bindgen's libclang, e2fsprogs for the ext2 test, NetBSD's makefs for the FFS
# store's disks) are installed only when RUMPKERNEL_DIR is set.
set -euo pipefail

packages=(qemu-system-x86 grub-pc-bin grub-common xorriso mtools iproute2 iputils-ping
    python3 python3-junitparser fonts-dejavu-core)
if [ -n "${RUMPKERNEL_DIR:-}" ]; then
    packages+=(libclang-dev e2fsprogs makefs)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]}" >&2
        echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "$ apt-get update"
    apt-get update -qq
    echo "$ apt-get install -y ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# rust-toolchain.toml names the target; rustup installs it on first use, this makes
# it explicit (and fails loudly without rustup).
echo "$ rustup target add x86_64-unknown-none"
rustup target add x86_64-unknown-none
