#!/usr/bin/env bash
# Starts the dev stack: Grafana with the plugin built from this checkout,
# feedbackd, the demo traffic, Loki, Prometheus and (when there) Elasticsearch.
#
# With a working Docker engine this is `docker compose up --build`
# (docker-compose.yaml). Without one, the same stack runs natively from the
# binaries on PATH with the same configuration files (deploy/, provisioning/,
# dashboards/), copies rewritten for 127.0.0.1 and the ports below; all
# state is under .run/. See docs/running.md.
#
#   ./scripts/run.sh [--native] [--skip-plugin-build] [docker compose up args...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

readonly plugin_id=feedbackloop-modelfeedback-datasource

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# flag NAME: the boolean environment variable NAME, 1/true or 0/false/unset.
flag() {
  case ${!1:-} in
    '' | 0 | false) return 1 ;;
    1 | true) return 0 ;;
    *) die "$1=${!1}: want 1 or 0" ;;
  esac
}
force_native=false
build_plugin=true
! flag SKIP_PLUGIN_BUILD || build_plugin=false
passthrough=()
for arg in "$@"; do
  case $arg in
    --native) force_native=true ;;
    --skip-plugin-build) build_plugin=false ;;
    *) passthrough+=("$arg") ;;
  esac
done

if ! $force_native && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  # (The +-form: bash 3.2, macOS's, calls an empty array unset under set -u.)
  exec docker compose up --build ${passthrough[@]+"${passthrough[@]}"}
fi

# ---------------------------------------------------------------------------
# Native mode.

if $force_native; then
  say "run.sh: running the stack natively (--native)"
elif command -v docker >/dev/null 2>&1; then
  say "run.sh: docker is installed but its engine does not answer (docker info failed): running the stack natively"
else
  say "run.sh: no docker: running the stack natively"
fi
[ ${#passthrough[@]} -eq 0 ] || die "native mode takes only --native and --skip-plugin-build, not: ${passthrough[*]}"

run=${RUN_DIR:-$root/.run}
case $run in /*) ;; *) run=$root/$run ;; esac
# The paths are written into YAML and ini files and Grafana expands $ in
# provisioning files: keep them to characters that need no quoting there.
for p in "$root" "$run"; do
  [[ $p =~ ^[A-Za-z0-9/._+@,=-]+$ ]] || die "path '$p' has characters the generated config files cannot hold; set RUN_DIR to a plain path"
done

: "${GRAFANA_PORT:=3000}" "${LOKI_PORT:=3100}" "${LOKI_GRPC_PORT:=9096}" "${PROMETHEUS_PORT:=9090}"
: "${FEEDBACKD_PORT:=8787}" "${DEMO_PORT:=9464}" "${ELASTICSEARCH_PORT:=9200}" "${ELASTICSEARCH_TRANSPORT_PORT:=9300}"
: "${READY_TIMEOUT:=180}" "${STOP_TIMEOUT:=45}"
for v in READY_TIMEOUT STOP_TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: want a number of seconds"
done

# Binaries. Every missing one is named at once, with where to get it.
missing=()
grafana_cmd=()
if command -v grafana >/dev/null 2>&1; then
  grafana_cmd=("$(command -v grafana)" server)
elif command -v grafana-server >/dev/null 2>&1; then
  grafana_cmd=("$(command -v grafana-server)")
else
  missing+=("grafana (or grafana-server): Grafana 12.4 or later, the standalone Linux binaries from
      https://grafana.com/grafana/download?edition=oss (unpack the .tar.gz and put its bin/ on PATH)
      or https://github.com/grafana/grafana/releases; set GRAFANA_HOME to the unpacked directory
      if the binary is not in its bin/")
fi
command -v loki >/dev/null 2>&1 || missing+=("loki: Loki 3.5 (as docker-compose.yaml), loki-linux-<arch>.zip from
      https://github.com/grafana/loki/releases; unzip it and put it on PATH as loki")
command -v prometheus >/dev/null 2>&1 || missing+=("prometheus: on Debian or Ubuntu apt-get install prometheus (then stop the
      service it starts: systemctl stop prometheus), or https://github.com/prometheus/prometheus/releases")
command -v go >/dev/null 2>&1 || missing+=("go: the version in go.mod, from https://go.dev/dl/ (builds feedbackd, the demo and the plugin backend)")
if $build_plugin && ! command -v npm >/dev/null 2>&1; then
  missing+=("npm: Node.js 20 or later from https://nodejs.org/ or apt-get install nodejs npm (builds the plugin frontend)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  {
    say "run.sh: no Docker engine, and the native stack needs binaries that are not on PATH:"
    for m in "${missing[@]}"; do say "  - $m"; done
  } >&2
  exit 1
fi

with_es=false
if flag SKIP_ELASTICSEARCH; then
  say "run.sh: SKIP_ELASTICSEARCH=1: running without Elasticsearch (feedbackd writes to Loki only and the data source reads Loki)"
elif ! command -v elasticsearch >/dev/null 2>&1; then
  say "run.sh: elasticsearch is not on PATH: running without Elasticsearch (feedbackd writes to Loki only and the"
  say "        data source reads Loki). To add it: the 8.15 .tar.gz from https://www.elastic.co/downloads/elasticsearch,"
  say "        its bin/ on PATH (it refuses to run as root)."
else
  with_es=true
fi

grafana_home=
for h in ${GRAFANA_HOME:+"$GRAFANA_HOME"} "$(dirname "$(dirname "$(realpath "${grafana_cmd[0]}")")")" \
  "$(dirname "$(dirname "$(realpath "${grafana_cmd[0]}")")")/share/grafana" /usr/share/grafana; do
  if [ -f "$h/conf/defaults.ini" ]; then grafana_home=$h; break; fi
done
[ -n "$grafana_home" ] || die "cannot find Grafana's home (the directory with conf/defaults.ini and public/) for ${grafana_cmd[0]}; set GRAFANA_HOME"
if [ -n "${GRAFANA_HOME:-}" ] && [ "$grafana_home" != "$GRAFANA_HOME" ]; then
  die "GRAFANA_HOME=$GRAFANA_HOME has no conf/defaults.ini"
fi

ports=(GRAFANA_PORT LOKI_PORT LOKI_GRPC_PORT PROMETHEUS_PORT FEEDBACKD_PORT DEMO_PORT)
$with_es && ports+=(ELASTICSEARCH_PORT ELASTICSEARCH_TRANSPORT_PORT)
for v in "${ports[@]}"; do
  p=${!v}
  [[ $p =~ ^[1-9][0-9]{0,4}$ ]] && [ "$p" -le 65535 ] || die "$v=$p is not a port number"
  for w in "${ports[@]}"; do
    [ "$w" != "$v" ] || break
    [ "${!w}" != "$p" ] || die "$w and $v are both $p"
  done
  # Something already answering there would pass the readiness checks below.
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port $p ($v) is in use on 127.0.0.1; stop what listens there or set $v to a free port"
  fi
done

case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) die "native mode runs on Linux and macOS, not $(uname -s)" ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no plugin backend build for $(uname -m)" ;;
esac
# The targets of the SDK's mage build (Magefile.go), as scripts/test.sh and
# deploy/grafana.Dockerfile run it.
case $os/$arch in
  linux/amd64) mage_target=build:linux ;;
  linux/arm64) mage_target=build:linuxARM64 ;;
  darwin/amd64) mage_target=build:darwin ;;
  darwin/arm64) mage_target=build:darwinARM64 ;;
esac
backend=gpx_modelfeedback_${os}_${arch}

# ---------------------------------------------------------------------------
# Build.

mkdir -p "$run/bin" "$run/logs"
say "run.sh: building feedbackd and feedback-demo into $run/bin"
# Static, as deploy/*.Dockerfile build them, and the same whether or not a C
# compiler is on PATH (so the build cache is shared between runs).
CGO_ENABLED=0 go build -o "$run/bin/feedbackd" ./pkg/cmd/feedbackd
CGO_ENABLED=0 go build -o "$run/bin/feedback-demo" ./pkg/cmd/feedback-demo

if $build_plugin; then
  [ -z "${PLUGIN_DIST:-}" ] || die "PLUGIN_DIST is the already built plugin: use it with SKIP_PLUGIN_BUILD=1"
  say "run.sh: building the plugin into dist/ (SKIP_PLUGIN_BUILD=1 reuses a built one)"
  [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
  npm run build
  go run github.com/magefile/mage@v1.17.2 "$mage_target"
fi
dist=${PLUGIN_DIST:-$root/dist}
for f in plugin.json module.js "$backend"; do
  [ -f "$dist/$f" ] || die "$dist has no $f: build the plugin (npm run build; go run github.com/magefile/mage@v1.17.2 $mage_target) or run without SKIP_PLUGIN_BUILD"
done
[ -x "$dist/$backend" ] || die "$dist/$backend is not executable"
plugins=$run/grafana/plugins
rm -rf "${plugins:?}/$plugin_id"
mkdir -p "$plugins/$plugin_id"
cp -R "$dist/." "$plugins/$plugin_id/"

# ---------------------------------------------------------------------------
# Configuration: the repository's files, with the compose service names and
# container paths replaced by 127.0.0.1, the ports above and paths under
# .run/. Each replaced text must be present, so an edit of a source file that
# this script does not know about stops it here instead of starting a stack
# that half works.

# rewrite SRC DST OLD NEW [OLD NEW]...
rewrite() {
  local src=$1 dst=$2 text
  shift 2
  text=$(<"$src")
  while [ $# -gt 0 ]; do
    [[ $text == *"$1"* ]] || die "$src no longer contains '$1', which scripts/run.sh rewrites for the native stack; update the script"
    text=${text//"$1"/"$2"}
    shift 2
  done
  printf '%s\n' "$text" >"$dst.tmp"
  mv "$dst.tmp" "$dst"
}

# drop_block FILE KEY: removes the YAML mapping entry KEY: and everything
# indented under it.
drop_block() {
  local file=$1 key=$2 line indent='' dropping=false found=false out=()
  while IFS= read -r line || [ -n "$line" ]; do
    if $dropping; then
      if [[ -z ${line// /} || $line =~ ^"$indent"[[:space:]] ]]; then continue; fi
      dropping=false
    fi
    if [[ $line =~ ^([[:space:]]*)"$key":[[:space:]]*$ ]]; then
      indent=${BASH_REMATCH[1]} dropping=true found=true
      continue
    fi
    out+=("$line")
  done <"$file"
  $found || die "$file has no $key: block, which scripts/run.sh removes when Elasticsearch is not running; update the script"
  printf '%s\n' "${out[@]}" >"$file.tmp"
  mv "$file.tmp" "$file"
}

lo=127.0.0.1
mkdir -p "$run/loki" "$run/prometheus/data" "$run/grafana/data" "$run/grafana/logs" "$run/feedbackd/spool"

rewrite deploy/loki/loki.yaml "$run/loki/loki.yaml" \
  "  http_listen_port: 3100" "  http_listen_address: $lo"$'\n'"  http_listen_port: $LOKI_PORT" \
  "  grpc_listen_port: 9096" "  grpc_listen_address: $lo"$'\n'"  grpc_listen_port: $LOKI_GRPC_PORT" \
  "path_prefix: /loki" "path_prefix: $run/loki" \
  "chunks_directory: /loki/chunks" "chunks_directory: $run/loki/chunks" \
  "rules_directory: /loki/rules" "rules_directory: $run/loki/rules"

rewrite deploy/feedbackd/feedbackd.yaml "$run/feedbackd/feedbackd.yaml" \
  "http://feedback-demo:9464" "http://$lo:$DEMO_PORT"

rewrite deploy/prometheus/prometheus.yml "$run/prometheus/prometheus.yml" \
  "'feedbackd:8787'" "'$lo:$FEEDBACKD_PORT'" \
  "'feedback-demo:9464'" "'$lo:$DEMO_PORT'" \
  "'localhost:9090'" "'$lo:$PROMETHEUS_PORT'"

prov=$run/grafana/provisioning
rm -rf "$prov"
mkdir -p "$prov"
cp -R provisioning/. "$prov/"
if $with_es; then
  rewrite provisioning/datasources/datasources.yml "$prov/datasources/datasources.yml" \
    "url: http://loki:3100" "url: http://$lo:$LOKI_PORT" \
    "url: http://elasticsearch:9200" "url: http://$lo:$ELASTICSEARCH_PORT" \
    "url: http://prometheus:9090" "url: http://$lo:$PROMETHEUS_PORT" \
    "url: http://feedbackd:8787" "url: http://$lo:$FEEDBACKD_PORT"
else
  rewrite provisioning/datasources/datasources.yml "$prov/datasources/datasources.yml" \
    "url: http://loki:3100" "url: http://$lo:$LOKI_PORT" \
    "url: http://prometheus:9090" "url: http://$lo:$PROMETHEUS_PORT" \
    "url: http://feedbackd:8787" "url: http://$lo:$FEEDBACKD_PORT"
  drop_block "$prov/datasources/datasources.yml" elasticsearch
fi
# The dashboards are read from the checkout, as the compose stack mounts
# them, so an edit shows at the next scan.
rewrite provisioning/dashboards/dashboards.yml "$prov/dashboards/dashboards.yml" \
  "path: /var/lib/grafana/dashboards" "path: $root/dashboards"

# The grafana service of docker-compose.yaml: its environment, as ini keys,
# plus where the native process keeps its state.
cat >"$run/grafana/grafana.ini" <<EOF
; Written by scripts/run.sh at each start of the native dev stack: the
; settings of the grafana service in docker-compose.yaml, with the state under
; $run/grafana.
[server]
http_addr = $lo
http_port = $GRAFANA_PORT

[paths]
data = $run/grafana/data
logs = $run/grafana/logs
plugins = $plugins
provisioning = $prov

[plugins]
allow_loading_unsigned_plugins = $plugin_id

; Dev stack only: anyone reaching the port is an admin.
[auth.anonymous]
enabled = true
org_role = Admin

[auth]
disable_login_form = true

; The Review queue's row actions post reviews to the data source's resource.
[security]
actions_allow_post_url = /api/datasources/uid/*/resources/review

[log]
mode = console
filters = plugin.$plugin_id:debug

[analytics]
reporting_enabled = false
check_for_updates = false
check_for_plugin_updates = false
EOF

# ---------------------------------------------------------------------------
# Processes.

pids=()
names=()
sleeper=
stopping=false

stop_all() {
  $stopping && return
  stopping=true
  trap '' INT TERM HUP
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  local i pid waited
  # Reverse start order: the demo stops sending before feedbackd drains its
  # spool into Loki and Elasticsearch, which stop last.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]}
    kill -0 "$pid" 2>/dev/null || continue
    say "run.sh: stopping ${names[i]} (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    waited=0
    # bash reaps its children as they exit, so kill -0 fails once it has.
    while kill -0 "$pid" 2>/dev/null; do
      if [ $waited -ge $((STOP_TIMEOUT * 5)) ]; then
        say "run.sh: ${names[i]} did not stop within ${STOP_TIMEOUT}s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
      waited=$((waited + 1))
    done
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
on_signal() {
  say ""
  say "run.sh: $1: stopping the stack"
  stop_all
  exit "$2"
}
trap 'on_signal SIGINT 130' INT
trap 'on_signal SIGTERM 143' TERM
trap 'on_signal SIGHUP 129' HUP
trap stop_all EXIT

# start NAME COMMAND...: runs it in the background, output to .run/logs/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$run/logs/$name.log" 2>&1 </dev/null &
  pids+=($!)
  names+=("$name")
  say "run.sh: started $name (pid $!, log $run/logs/$name.log)"
}

# http_ok PORT PATH: a GET answered 2xx. Plain bash (/dev/tcp), so the
# script needs no HTTP client installed.
http_ok() {
  (
    exec 3<>"/dev/tcp/$lo/$1" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$2" "$lo" "$1" >&3
    IFS= read -r -t 10 status <&3 || exit 1
    [[ $status =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]]
  ) 2>/dev/null
}

# ready NAME PORT PATH: waits until the process started as NAME answers.
ready() {
  local name=$1 port=$2 path=$3 i pid='' deadline=$((SECONDS + READY_TIMEOUT))
  for i in "${!names[@]}"; do [ "${names[i]}" != "$name" ] || pid=${pids[i]}; done
  until http_ok "$port" "$path"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$run/logs/$name.log" >&2 || true
      die "$name exited while starting; its log: $run/logs/$name.log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$run/logs/$name.log" >&2 || true
      die "$name did not answer http://$lo:$port$path within ${READY_TIMEOUT}s (READY_TIMEOUT); its log: $run/logs/$name.log"
    fi
    sleep 0.5
  done
}

start loki loki "-config.file=$run/loki/loki.yaml"
if $with_es; then
  mkdir -p "$run/elasticsearch/data" "$run/elasticsearch/logs"
  # The elasticsearch service of docker-compose.yaml, bound to 127.0.0.1.
  start elasticsearch env ES_JAVA_OPTS="${ES_JAVA_OPTS:--Xms512m -Xmx512m}" elasticsearch \
    -Ediscovery.type=single-node -Expack.security.enabled=false \
    -Enetwork.host=$lo "-Ehttp.port=$ELASTICSEARCH_PORT" "-Etransport.port=$ELASTICSEARCH_TRANSPORT_PORT" \
    "-Epath.data=$run/elasticsearch/data" "-Epath.logs=$run/elasticsearch/logs"
fi
ready loki "$LOKI_PORT" /ready
! $with_es || ready elasticsearch "$ELASTICSEARCH_PORT" '/_cluster/health?wait_for_status=yellow&timeout=5s'

# feedbackd and the demo as their compose services configure them.
feedbackd_args=(--listen "$lo:$FEEDBACKD_PORT" --spool-dir "$run/feedbackd/spool" --loki-url "http://$lo:$LOKI_PORT")
! $with_es || feedbackd_args+=(--elasticsearch-url "http://$lo:$ELASTICSEARCH_PORT")
# The escalation section of the file opens tickets in the demo's Jira
# stand-in; the dev-only tokens are those of docker-compose.yaml: the demo
# writes with the server token, the chat page's widget with the browser token
# from the page's origin.
feedbackd_args+=(
  --config "$run/feedbackd/feedbackd.yaml"
  --notify-url "http://$lo:$DEMO_PORT/notifications" --notify-channel in_app
  --grafana-url "http://$lo:$GRAFANA_PORT"
  --tokens dev-server-token --browser-tokens dev-browser-token --cors-origins "http://$lo:$DEMO_PORT"
)
FEEDBACKD_DEMO_JIRA_TOKEN=demo-only-token start feedbackd "$run/bin/feedbackd" "${feedbackd_args[@]}"
ready feedbackd "$FEEDBACKD_PORT" /healthz
start feedback-demo "$run/bin/feedback-demo" -feedbackd-url "http://$lo:$FEEDBACKD_PORT" -token dev-server-token \
  -loki-url "http://$lo:$LOKI_PORT" -rate 2 -listen "$lo:$DEMO_PORT" \
  -widget-endpoint "http://$lo:$FEEDBACKD_PORT" -widget-token dev-browser-token
ready feedback-demo "$DEMO_PORT" /metrics

start prometheus prometheus "--config.file=$run/prometheus/prometheus.yml" \
  "--storage.tsdb.path=$run/prometheus/data" "--web.listen-address=$lo:$PROMETHEUS_PORT" \
  --enable-feature=exemplar-storage
ready prometheus "$PROMETHEUS_PORT" /-/ready
# Last, so every URL of the provisioned data source answers from the start.
start grafana "${grafana_cmd[@]}" --homepath "$grafana_home" --config "$run/grafana/grafana.ini"
ready grafana "$GRAFANA_PORT" /api/health

say ""
say "Feedback Loop dev stack is running natively; Ctrl-C stops it."
say "  Grafana        http://$lo:$GRAFANA_PORT"
say "  feedbackd      http://$lo:$FEEDBACKD_PORT"
say "  feedback-demo  http://$lo:$DEMO_PORT/metrics"
say "  chat           http://$lo:$DEMO_PORT/"
say "  Loki           http://$lo:$LOKI_PORT"
say "  Prometheus     http://$lo:$PROMETHEUS_PORT"
if $with_es; then
  say "  Elasticsearch  http://$lo:$ELASTICSEARCH_PORT"
else
  say "  Elasticsearch  not running"
fi
say "State under $run, logs in $run/logs."

while :; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      rc=0
      wait "${pids[i]}" || rc=$?
      tail -n 30 "$run/logs/${names[i]}.log" >&2 || true
      die "${names[i]} exited (status $rc); its log: $run/logs/${names[i]}.log"
    fi
  done
  # A background sleep, so a signal runs its trap at once.
  sleep 1 &
  sleeper=$!
  wait "$sleeper" || true
  sleeper=
done
