#!/usr/bin/env bash
# qemu-binfmt.sh - let this amd64 runner execute arm64 (aarch64) binaries, so
# base-image.sh can bootstrap an arm64 root file system and Docker can build
# and run linux/arm64 images under emulation. Debian packages only, no
# registry image (tonistiigi/binfmt is what a developer with a registry uses):
#   1. installs qemu-user-static, binfmt-support and arch-test if missing;
#   2. mounts binfmt_misc if it is not mounted;
#   3. enables Debian's qemu-aarch64 handler, which carries the fix-binary flag
#      (F: the kernel opens the static interpreter once, so it also works
#      inside containers and chroots that do not have it);
#   4. proves it with arch-test.
# Idempotent: run it as often as you like; it prints what it did.
#
# Usage:  sudo bash qemu-binfmt.sh
# Exit:   0 arm64 binaries run here, 1 they do not (the reason is printed).
set -euo pipefail

log() { printf 'qemu-binfmt: %s\n' "$*"; }
HANDLER=/proc/sys/fs/binfmt_misc/qemu-aarch64

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root"; exit 1
fi

if [ -x /usr/bin/qemu-aarch64-static ] && command -v update-binfmts >/dev/null 2>&1 &&
   command -v arch-test >/dev/null 2>&1; then
  log "qemu-user-static, binfmt-support and arch-test already installed"
else
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(qemu-user-static binfmt-support arch-test)
  if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  log "installed ${pkgs[*]}"
fi

if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  log "mounted binfmt_misc"
fi

if ! grep -qx enabled "$HANDLER" 2>/dev/null; then
  update-binfmts --enable qemu-aarch64
  log "enabled the qemu-aarch64 handler"
fi

flags=$(sed -n 's/^flags: //p' "$HANDLER")
case "$flags" in
  *F*) ;;
  *) log "the qemu-aarch64 handler lacks the fix-binary flag (flags: ${flags:-none});" \
       "containers could not find the interpreter"; exit 1 ;;
esac

if ! result=$(arch-test arm64 2>&1); then
  log "arm64 binaries do not run here: $result"; exit 1
fi
log "arm64 binaries run here ($result; handler flags $flags)"
