"""A real HTTP receiver for the webhook transport's tests, verifying Standard Webhooks
signatures with Python's standard library only (an implementation independent of the crate's).

Serve:  python3 webhook_receiver.py serve --dir DIR
        Listens on 127.0.0.1 on a free port and prints "ready PORT". The signing secret
        (whsec_...) is read from the environment variable WEBHOOK_TEST_SECRET. Each request is
        saved to DIR as N.json: path, headers, body (base64) and whether its signature verified.
        The path decides the answer: /status/CODE answers CODE (with `Retry-After: 7` for 429),
        /hang never answers, anything else 200. Stops when standard input closes.
Verify: python3 webhook_receiver.py verify < request.json
        Reads {"id", "timestamp", "signature", "body_b64"}, verifies with WEBHOOK_TEST_SECRET and
        exits 0 when the signature is valid, 1 when not.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time


def key():
    secret = os.environ["WEBHOOK_TEST_SECRET"]
    assert secret.startswith("whsec_")
    return base64.b64decode(secret[len("whsec_"):])


def verify(msg_id, timestamp, signature_header, body):
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key(), signed, hashlib.sha256).digest()).decode()
    for candidate in signature_header.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = 0
    lock = threading.Lock()
    directory = None

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok = verify(
            headers.get("webhook-id", ""),
            headers.get("webhook-timestamp", ""),
            headers.get("webhook-signature", ""),
            body,
        )
        with Handler.lock:
            Handler.counter += 1
            n = Handler.counter
        record = {
            "path": self.path,
            "headers": headers,
            "body_b64": base64.b64encode(body).decode(),
            "verified": ok,
        }
        path = os.path.join(Handler.directory, f"{n}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)

        if self.path == "/hang":
            time.sleep(3600)
            return
        status = 200
        if self.path.startswith("/status/"):
            status = int(self.path[len("/status/"):])
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "7")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


def serve(directory):
    Handler.directory = directory
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"ready {server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


def main():
    command = sys.argv[1]
    if command == "serve":
        serve(sys.argv[sys.argv.index("--dir") + 1])
    elif command == "verify":
        request = json.load(sys.stdin)
        ok = verify(
            request["id"],
            request["timestamp"],
            request["signature"],
            base64.b64decode(request["body_b64"]),
        )
        sys.exit(0 if ok else 1)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
