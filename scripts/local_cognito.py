"""Run moto's server as the local Cognito (user pools, JWKS, tokens) on a loopback port.

DynamoDB is not served here: Amazon's DynamoDB Local is the local DynamoDB
(scripts/lib.sh starts both). A DynamoDB request that reaches this server is
refused with a message naming the fix, so nothing can quietly run on moto's
DynamoDB, which is lenient where DynamoDB is strict and unsafe under
concurrency.

Why not plain `moto_server`:
- moto's backends are not written for concurrent requests, so requests are
  applied one at a time under a lock (Cognito calls are few and fast; this is
  a valid serialisation of what the service does). Connections are still
  accepted concurrently.
- TCP_NODELAY: Python's http.server writes headers and body separately; with
  Nagle on, a keep-alive client waits ~40 ms for a delayed ACK per response.
- Port 0 by default: the kernel picks a free port; the chosen port is written to
  --port-file once the socket is listening, so callers never race on a port.

Usage: local_cognito.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
"""

import argparse
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


REFUSED = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#UnrecognizedClientException",'
    b'"message":"this is the local Cognito (moto); DynamoDB is DynamoDB Local: '
    b'set AWS_ENDPOINT_URL_DYNAMODB (scripts/test and scripts/dev do)"}'
)


class SerializedApp:
    """Handle one WSGI request at a time, body included; refuse DynamoDB."""

    def __init__(self, app):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
            return [REFUSED]
        with self._lock:
            result = self._app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


class NoDelayHandler(MotoRequestHandler):
    disable_nagle_algorithm = True

    def log_request(self, code="-", size="-"):
        if os.environ.get("LOCAL_AWS_VERBOSE"):
            super().log_request(code, size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()

    app = SerializedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=NoDelayHandler)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"local Cognito (moto) listening on http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
