# Sourced by the bench scripts (after ROOT and lib() are set): start and stop our daemon.

# start_gateway DIR DIST [key = value]...: writes DIR/iscsi-gateway.cfg (loopback API and
# portal on free ports, admin/admin, gateway bench-gw, data in DIR/data, plus the given keys),
# starts DIST/src/main.js and waits for /api/_ping. Sets GW_PID, GW_API_PORT, GW_ISCSI_PORT, GW_METRICS_PORT
# (the Prometheus exporter, on unless the keys say prometheus_exporter = false).
start_gateway() {
  local dir=$1 dist=$2
  shift 2
  mkdir -p "$dir/data"
  GW_API_PORT=$(lib freeport)
  GW_ISCSI_PORT=$(lib freeport)
  GW_METRICS_PORT=$(lib freeport)
  {
    echo '[config]'
    printf '%s\n' 'api_host = 127.0.0.1' "api_port = $GW_API_PORT" 'api_user = admin' 'api_password = admin' \
      'api_secure = false' 'minimum_gateways = 1' 'trusted_ip_list = 127.0.0.1' "data_dir = $dir/data" \
      "iscsi_port = $GW_ISCSI_PORT" 'gateway_name = bench-gw' 'prometheus_host = 127.0.0.1' \
      "prometheus_port = $GW_METRICS_PORT" "$@"
  } >"$dir/iscsi-gateway.cfg"
  # shellcheck disable=SC2086
  setsid node ${NODE_FLAGS:-} "$dist/src/main.js" --config "$dir/iscsi-gateway.cfg" >"$dir/daemon.log" 2>&1 </dev/null &
  GW_PID=$!
  lib wait-ping "$GW_API_PORT" 60 || { tail -20 "$dir/daemon.log" >&2; stop_pid "$GW_PID"; return 1; }
}

# gateway_dist TARGET: the build to run for bench target "ours" or "nometrics" (dist/) or "base" (BASE_DIST, a copy
# of dist/ made before a change, with package.json and a node_modules link: before/after runs).
gateway_dist() {
  if [[ "$1" == base ]]; then
    echo "${BASE_DIST:?BASE_DIST=<a copy of dist/ (with package.json, node_modules link)>}"
  else
    echo "$ROOT/dist"
  fi
}

# stop_pid PID...: SIGTERM, up to 10 s, then SIGKILL; only processes that still run.
stop_pid() {
  local p
  for p in "$@"; do
    [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || continue
    kill -TERM "$p"
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p"
  done
  return 0
}
