"""Run moto's server (DynamoDB + Cognito emulation) on a loopback port, safely.

Why not plain `moto_server`:
- moto is not safe under concurrent requests: a cancelled TransactWriteItems
  restores a copy of the table taken when it began, erasing items that other
  requests wrote meanwhile, and its condition checks race with concurrent
  writes. Real DynamoDB does neither. A concurrency test against plain moto
  fails for reasons outside the code under test, so every request is handled
  under one lock here. Connections are still accepted concurrently, so clients
  see real concurrency on the wire; the emulator applies requests one at a time
  (which is a valid serialisation of what DynamoDB does).
- TCP_NODELAY: Python's http.server writes headers and body separately; with
  Nagle on, a keep-alive client waits ~40 ms for a delayed ACK per response.
- Port 0 by default: the kernel picks a free port; the chosen port is written to
  --port-file once the socket is listening, so callers never race on a port.

Usage: local_aws.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
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


class SerializedApp:
    """Handle one WSGI request at a time, body included."""

    def __init__(self, app):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
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
    print(f"local AWS emulator (moto) listening on http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
