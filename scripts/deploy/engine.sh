#!/usr/bin/env bash
# The container engine Podium's image and deploy verbs use: podman, with a configuration of
# the project's own (below), or docker where podman is missing. Run as `engine.sh ARGS...`.
#
# podman reads this configuration through CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, so
# nothing under /etc changes; images and layers live in $IMAGE_CACHE/containers, outside the
# clone, and survive it. The settings are the ones that work on a CI machine without
# systemd: runc (crun fails on hybrid cgroups), cgroupfs, events in a file, and explicit
# ulimits (the machine's may exceed what a container can get).
set -euo pipefail

: "${IMAGE_CACHE:=${PODIUM_IMAGE_CACHE:-$HOME/.cache/podium/images}}"

if ! command -v podman >/dev/null; then
    if command -v docker >/dev/null; then exec docker "$@"; fi
    echo "engine.sh: neither podman nor docker is installed (Debian: apt-get install podman" \
        "buildah runc); the image and deploy verbs need one" >&2
    exit 1
fi

conf="$IMAGE_CACHE/containers"
mkdir -p "$conf"
cat > "$conf/containers.conf.new" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat > "$conf/storage.conf.new" <<CONF
[storage]
driver = "overlay"
graphroot = "$conf/storage"
runroot = "${XDG_RUNTIME_DIR:-/run}/podium-containers"
CONF
# Rewritten only when changed, so that concurrent runs read a whole file.
for file in containers.conf storage.conf; do
    if cmp -s "$conf/$file.new" "$conf/$file"; then rm "$conf/$file.new"
    else mv "$conf/$file.new" "$conf/$file"; fi
done
export CONTAINERS_CONF="$conf/containers.conf" CONTAINERS_STORAGE_CONF="$conf/storage.conf"
# Builds keep their `RUN --mount=type=cache` directories (uv's cache) under TMPDIR: here too.
mkdir -p "$conf/tmp"
export TMPDIR="$conf/tmp"
exec podman "$@"
