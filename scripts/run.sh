#!/usr/bin/env bash
# Starts the dev stack (docker-compose.yaml): Grafana with the plugin built
# from this checkout, feedbackd, the demo traffic, Loki, Elasticsearch and
# Prometheus. The images build the plugin and the binaries themselves, so
# this needs only Docker; see docs/running.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec docker compose up --build "$@"
