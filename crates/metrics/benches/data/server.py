"""A tiny loopback HTTP server for recording real k6 output (see record.sh).

Endpoints give a mix of statuses and latencies so the recording has
several tag sets: /login 200, /items 200 or 500, /slow 200 after ~2 ms,
anything else 404. Binds 127.0.0.1 only and exits after --seconds.
"""
import argparse
import http.server
import random
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle plus
    # delayed ACKs add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.respond()

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.respond()

    def respond(self):
        path = self.path.split("?")[0]
        status, body = 404, b"not found"
        if path == "/login":
            status, body = 200, b'{"token":"abc"}'
        elif path == "/items":
            status = 500 if random.random() < 0.1 else 200
            body = b"x" * random.randint(100, 2000)
        elif path == "/slow":
            time.sleep(0.002)
            status, body = 200, b"slow"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    threading.Timer(args.seconds, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
