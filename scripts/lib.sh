# Shared shell helpers for scripts/*. Source it; do not run it.

# start_local_aws DIR: start the moto-based emulator on a free loopback port.
# Sets LOCAL_AWS_PID and exports AWS_ENDPOINT_URL plus dummy credentials.
# Fails loudly (exit 1) if it does not come up within 30 s.
start_local_aws() {
  local dir=$1
  mkdir -p "$dir"
  local port_file="$dir/local-aws.port" log="$dir/local-aws.log"
  rm -f "$port_file"
  .venv/bin/python scripts/local_aws.py --port "${LOCAL_AWS_PORT:-0}" --port-file "$port_file" >"$log" 2>&1 &
  LOCAL_AWS_PID=$!
  local waited=0
  while [ ! -s "$port_file" ]; do
    if ! kill -0 "$LOCAL_AWS_PID" 2>/dev/null; then
      echo "error: the local AWS emulator (moto) exited during start-up. Its log ($log):" >&2
      cat "$log" >&2
      echo "fix: run scripts/bootstrap (it installs moto[server] into .venv) and retry" >&2
      exit 1
    fi
    if [ "$waited" -ge 300 ]; then
      echo "error: the local AWS emulator did not start within 30 s; log: $log" >&2
      exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$port_file")"
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
  export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
  export AWS_REGION=${AWS_REGION:-us-east-1}
  # Keep the SDK away from any real profile/IMDS lookups.
  export AWS_EC2_METADATA_DISABLED=true
}

stop_local_aws() {
  if [ -n "${LOCAL_AWS_PID:-}" ] && kill -0 "$LOCAL_AWS_PID" 2>/dev/null; then
    kill "$LOCAL_AWS_PID" 2>/dev/null || true
    wait "$LOCAL_AWS_PID" 2>/dev/null || true
  fi
}
