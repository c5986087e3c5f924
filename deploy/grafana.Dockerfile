# Grafana with the Feedback Loop data source built from this repository, so
# `docker compose up --build` needs nothing on the host but Docker.
ARG GRAFANA_VERSION=12.4.10

FROM node:22-bookworm AS frontend
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY . .
RUN npm run build

FROM golang:1.26-bookworm AS backend
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The image runs on the builder's architecture; mage's build:linux is amd64.
ARG TARGETARCH
RUN if [ "$TARGETARCH" = "arm64" ]; then target=build:linuxARM64; else target=build:linux; fi && \
    go run github.com/magefile/mage@v1.17.2 -v "$target"

FROM grafana/grafana:${GRAFANA_VERSION}
ENV GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS=feedbackloop-modelfeedback-datasource
COPY --from=frontend /src/dist /var/lib/grafana/plugins/feedbackloop-modelfeedback-datasource
COPY --from=backend /src/dist/ /var/lib/grafana/plugins/feedbackloop-modelfeedback-datasource/
