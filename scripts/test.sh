#!/usr/bin/env bash
# Runs every test of the project from a clean checkout: installs what the
# tests need (npm packages, Go modules, Debian's prometheus and chromium), then
# the Go tests (unit, golden, end-to-end over the plugin protocol, real
# Prometheus), short fuzz runs, the Python client's tests (scripts/test-python.sh),
# the frontend's typecheck, lint, Jest, the editors in a real browser (chromium)
# and build, sdk/js (build, size budget, client and browser tests), and builds
# dist/ with the Linux plugin binary.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
# tests/browser/editors.spec.mjs and sdk/js's browser tests drive /usr/bin/chromium (or $CHROMIUM) with playwright-core
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "need root to apt-get install ${need_apt[*]}; run: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The package starts a service on :9090; the tests start their own.
  systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true
fi

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error

step "go mod download"
go mod download

step "go vet"
go vet ./pkg/... ./deploy/...

step "go test"
go test -count=1 -timeout 20m ./pkg/... ./deploy/...

step "fuzz (short)"
for target in $(grep -rl --include='*_test.go' '^func Fuzz' pkg); do
  dir=$(dirname "$target")
  for fn in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$target" | sed 's/^func //'); do
    echo "fuzz $dir $fn"
    go test -run '^$' -fuzz "^${fn}\$" -fuzztime "${FUZZTIME:-10s}" "./$dir"
  done
done

step "python client (sdk/python): pip install, compileall, mypy, unittest against feedbackd"
scripts/test-python.sh

step "frontend: typecheck, lint, jest"
npm run typecheck
npm run lint
npm run test:ci

step "frontend: editors in a real browser (chromium)"
npm run test:browser

step "frontend: build"
npm run build

# --- sdk/js: @feedbackloop/client and <feedback-thumbs> (docs/widget.md) ---
# Its own package and lock file. The build prints the minified + gzip sizes and
# fails over the 12 KB budget; the unit tests run the client against a strict
# stand-in and the real feedbackd, check its types against
# schema/event.schema.json and the size again; the browser tests drive the
# widget in chromium against the real feedbackd (and the demo's chat page),
# and print the thumbs-down-to-202 time.
step "sdk/js: npm ci, typecheck, build (sizes), unit tests"
npm --prefix sdk/js ci --no-audit --no-fund --loglevel=error
npm --prefix sdk/js run typecheck
npm --prefix sdk/js run build
npm --prefix sdk/js test

step "sdk/js: the widget in a real browser (chromium) against feedbackd"
npm --prefix sdk/js run test:browser
# --- end sdk/js ---

step "backend: mage build:linux"
go run github.com/magefile/mage@v1.17.2 -v build:linux
test -x dist/gpx_modelfeedback_linux_amd64
test -f dist/plugin.json
test -f dist/module.js
# The shipped dashboards (src/plugin.json includes) are copied by webpack.config.ts.
for d in dashboards/*.json; do cmp "$d" "dist/$d"; done
echo "dist/ holds the plugin: $(ls dist | tr '\n' ' ')"
