# syntax=docker/dockerfile:1
# One Dockerfile builds every Podium image; SERVICE names the workspace member:
#
#   docker build --build-arg SERVICE=worker-researcher -t podium-worker-researcher .
#
# SERVICE is a folder under services/ (gateway, planner, worker-*, aggregator, recorder) or
# tools/ (cli, scripted-llm). The images differ only in the package they install and the
# command they run, so one file keeps them from drifting apart. The build context is the
# repository root: libs/common is installed from the workspace, exactly as uv.lock pins it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---- build: a virtualenv at /app/.venv with the service, podium-common and their deps
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
ARG SERVICE
WORKDIR /src

# Third-party dependencies first: this layer is rebuilt only when uv.lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    : "${SERVICE:?build with --build-arg SERVICE=<folder under services/ or tools/>}" \
    && uv sync --frozen --no-dev --no-install-workspace --package "podium-${SERVICE}"

# Then the workspace packages, installed as wheels (not editable): the image needs no source.
# The image runs the package's console script, `podium-<SERVICE>` (the CLI's is `podium`),
# linked as `podium-service`.
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
COPY tools tools
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "podium-${SERVICE}" \
    && script="podium-${SERVICE}" && if [ "${SERVICE}" = cli ]; then script=podium; fi \
    && test -x "/app/.venv/bin/${script}" \
    && ln -s "/app/.venv/bin/${script}" /app/.venv/bin/podium-service

# ---- runtime: the virtualenv, the Avro schemas and a non-root user; no build tools
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
# Where the image's health check asks for /healthz: consumer services serve it on
# PODIUM_HEALTH_PORT (8081); the gateway on its own port (8080); the scripted LLM on 8099.
ARG PROBE_PORT=8081
LABEL org.opencontainers.image.title="podium-${SERVICE}" \
      org.opencontainers.image.description="Podium ${SERVICE}"

RUN groupadd --system --gid 10001 podium \
    && useradd --system --uid 10001 --gid podium --create-home --home-dir /home/podium \
       --shell /usr/sbin/nologin podium

COPY --from=build /app/.venv /app/.venv
# podium_common finds `schemas/` in a parent of its install directory: /app/schemas.
COPY schemas /app/schemas

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
