#!/usr/bin/env bash
# CI helper for docker mode (Debian, root): installs the engine, QEMU binfmt and Debian's
# docker-registry (ECR on a real registry) when missing,
# starts dockerd when nothing answers (bounded wait), enables qemu-aarch64, builds the stub
# images. Never fails the CI run: when the engine cannot start it says why and exits 0, and
# the docker tests skip with that reason. Prints "docker-mode: ready" on success.
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
say() { echo "ci-docker: $*"; }

if [ "$(id -u)" != 0 ]; then say "not root: skipping engine setup (docker tests skip unless an engine already answers)"; fi

if [ "$(id -u)" = 0 ]; then
  need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  [ -e /usr/bin/qemu-aarch64-static ] || [ "$(uname -m)" = aarch64 ] || need+=(qemu-user-static)
  command -v update-binfmts >/dev/null || need+=(binfmt-support)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; } || say "apt-get install ${need[*]} failed"
  fi
  # ECR on a real registry (docker login/push/pull of ECR names): the harness starts its own
  # docker-registry; a separate install, so that it failing cannot cost the engine
  if [ ! -x /usr/bin/docker-registry ]; then
    say "installing docker-registry"
    { [ ${#need[@]} -gt 0 ] || apt-get update -qq; } && apt-get install -y -qq docker-registry >/dev/null || say "apt-get install docker-registry failed: ECR stays a catalogue (the registry contract test skips)"
  fi
  # the package's own service (systemd hosts) would hold :5000 for nothing
  if [ -x /usr/bin/docker-registry ] && command -v systemctl >/dev/null; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
  if [ "$(uname -m)" != aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || say "cannot mount binfmt_misc"
    update-binfmts --enable qemu-aarch64 2>/dev/null || say "update-binfmts --enable qemu-aarch64 failed"
  fi
  if ! docker info >/dev/null 2>&1 && command -v dockerd >/dev/null; then
    say "starting dockerd (log: /var/log/dockerd.log)"
    setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  fi
fi

if ! docker info >/dev/null 2>&1; then
  say "no Docker engine answers (see /var/log/dockerd.log): docker-mode tests will skip"
  exit 0
fi
start=$(date +%s)
if npx tsx docker/build.ts; then
  say "images ready in $(( $(date +%s) - start )) s"
  echo "docker-mode: ready"
else
  say "image build failed: docker-mode tests will skip or fail with the reason above"
fi
exit 0
