#!/usr/bin/env bash
# Builds the plugin (frontend and Linux backend into dist/) and starts Grafana
# with it through Docker Compose (docker-compose.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
npm run build
go run github.com/magefile/mage@v1.17.2 -v build:linux
exec docker compose up --build
