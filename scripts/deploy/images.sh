#!/usr/bin/env bash
# Builds every Podium image from the one Dockerfile, tagged localhost/podium-<service>:<tag>
# (the chart's appVersion unless IMAGE_TAG is set). Where Python and uv come from:
#   IMAGES_FROM=public  python:3.11-slim-bookworm and ghcr.io/astral-sh/uv, pulled by the
#                       engine (the Dockerfile's defaults)
#   IMAGES_FROM=debian  a Python base made from Debian's own packages by mmdebstrap and
#                       imported, and an image holding uv from its PyPI wheel: the build
#                       reaches only Debian's archive and PyPI
# The Debian root filesystem is kept in $IMAGE_CACHE, the layers in the engine's storage;
# a second run rebuilds only what changed.
set -euo pipefail

cd "$(dirname "$0")/../.."
: "${IMAGES_FROM:=public}" "${IMAGE_CACHE:=${PODIUM_IMAGE_CACHE:-$HOME/.cache/podium/images}}"
export IMAGE_CACHE
engine=scripts/deploy/engine.sh
say() { printf 'images: %s\n' "$*"; }
uv() { command ${UV:-uv} "$@"; }

tag=${IMAGE_TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' helm/podium/Chart.yaml)}
uv_version=$(sed -n 's#^ARG UV_IMAGE=.*:\(.*\)$#\1#p' Dockerfile)
services="$(cd services && echo *) cli scripted-llm"

exists() { "$engine" image inspect "$1" >/dev/null 2>&1; }

debian_python() {  # a Python 3.11 image from Debian bookworm's packages, no other source
    local image=localhost/podium-debian-python:bookworm
    local rootfs="$IMAGE_CACHE/debian-bookworm-python3.tar"
    if exists "$image"; then echo "$image"; return; fi
    if [ ! -s "$rootfs" ]; then
        command -v mmdebstrap >/dev/null \
            || { echo "images: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
        say "making a Debian bookworm root filesystem with Python (mmdebstrap, about a minute)" >&2
        mkdir -p "$IMAGE_CACHE"
        # Debian's minimal base (with apt: the build installs binutils), and Python; merged
        # /usr without the usrmerge package, which pulls in Perl; no manuals, locales,
        # documentation (but the copyright files) or iconv modules.
        mmdebstrap --quiet --format=tar --variant=minbase --include=python3,python3-venv,ca-certificates \
            --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
            --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*' \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            bookworm "$rootfs.part" > "$IMAGE_CACHE/mmdebstrap.log" 2>&1 \
            || { cat "$IMAGE_CACHE/mmdebstrap.log" >&2; exit 1; }
        mv "$rootfs.part" "$rootfs"
    fi
    "$engine" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' "$rootfs" "$image" >/dev/null
    echo "$image"
}

pypi_uv() {  # an image holding only /uv, the binary of uv's PyPI wheel
    local image="localhost/podium-uv:$uv_version" dir
    if exists "$image"; then echo "$image"; return; fi
    dir=$(mktemp -d)
    cp "$(uv run --quiet --no-project --isolated --with "uv==$uv_version" \
        python -c 'import uv; print(uv.find_uv_bin())')" "$dir/uv"
    tar -C "$dir" -cf - uv | "$engine" import - "$image" >/dev/null
    rm -rf "$dir"
    echo "$image"
}

args=()
case "$IMAGES_FROM" in
public) ;;
debian)
    python_image=$(debian_python)
    uv_image=$(pypi_uv)
    args+=(--build-arg "PYTHON_IMAGE=$python_image" --build-arg "UV_IMAGE=$uv_image")
    ;;
*) echo "images: IMAGES_FROM is public or debian, not $IMAGES_FROM" >&2; exit 2 ;;
esac
# podman: Docker's image format, the one that keeps the HEALTHCHECK; and the machine's CA
# certificates for uv inside the build (an HTTPS proxy's, say);
# mounted for the build's commands only, never stored in a layer.
format=()
if "$engine" --version | grep -q podman; then
    format=(--format docker)
    if [ -d /etc/ssl/certs ]; then args+=(--volume /etc/ssl/certs:/etc/ssl/certs:ro); fi
fi

for service in $services; do
    case "$service" in gateway) port=8080 ;; scripted-llm) port=8099 ;; *) port=8081 ;; esac
    started=$SECONDS
    "$engine" build --quiet --network host "${format[@]}" "${args[@]}" --build-arg "SERVICE=$service" \
        --build-arg "PROBE_PORT=$port" --tag "localhost/podium-$service:$tag" . >/dev/null
    say "localhost/podium-$service:$tag built in $((SECONDS - started))s"
done
# podman's storage is Podium's own (engine.sh): what earlier builds left there untagged is
# removed, so that it does not grow with every build. The images whose tags moved to the
# ones just built (they carry the image title label) go once an hour old (a build running
# beside this one keeps its own). The build stage's steps (labelled org.podium.stage) go a
# day old: a step reused keeps the date it was made, and a build of unchanged sources would
# redo them all (20 s); the shared dependencies' stage carries neither label and stays. A
# docker engine is the user's, left alone.
if [ ${#format[@]} -gt 0 ]; then
    "$engine" image prune --force --filter label=org.opencontainers.image.title \
        --filter until=1h >/dev/null
    "$engine" image prune --force --filter label=org.podium.stage=build \
        --filter until=24h >/dev/null
fi
"$engine" images --filter reference='localhost/podium-*' \
    --format '{{.Repository}}:{{.Tag}} {{.Size}}'
