#!/usr/bin/env python3
"""A stand-in of API Gateway's @connections management API for
scripts/sam-local (the tests have their own in Rust, devkit::connections).

    connections_stand_in.py PORT_FILE LOG_FILE

Listens on every address (the functions' containers reach it at the Docker
bridge's gateway) on a free port, which it writes to PORT_FILE once it
listens. Each request is appended to LOG_FILE as a JSON line: method,
connection id, the status answered, and for a post the frame's `uuid`.

POST /@connections/{id} (under any stage path) answers 200, or 410
GoneException when the id ends with "-gone" (devkit::seed::GONE_SUFFIX: the
fixture's connection whose client has left); DELETE answers 204; GET 200.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

GONE_SUFFIX = "-gone"
port_file, log_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def _id(self):
        marker = "/@connections/"
        return unquote(self.path.split(marker, 1)[1]) if marker in self.path else None

    def _log(self, status, uuid=None):
        line = {"method": self.command, "id": self._id(), "status": status, "uuid": uuid}
        with lock, open(log_file, "a") as f:
            f.write(json.dumps(line) + "\n")

    def _answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        frame = self.rfile.read(length)
        try:
            uuid = json.loads(frame).get("uuid")
        except (ValueError, AttributeError):
            uuid = None
        conn = self._id()
        if conn is None:
            self._log(404)
            self._answer(404)
        elif conn.endswith(GONE_SUFFIX):
            self._log(410, uuid)
            self._answer(410, b'{"message":"Gone"}', [("x-amzn-errortype", "GoneException"),
                                                     ("Content-Type", "application/json")])
        else:
            self._log(200, uuid)
            self._answer(200)

    def do_DELETE(self):
        self._log(204)
        self._answer(204)

    def do_GET(self):
        self._log(200)
        self._answer(200, b"{}", [("Content-Type", "application/json")])

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
