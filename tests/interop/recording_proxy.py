#!/usr/bin/env python3
"""A recording HTTP proxy for `cargo xtask interop`.

Listens on 127.0.0.1 (port 0: the system picks a free one), forwards every
request unchanged to the upstream server, sends the upstream's answer back
unchanged, and appends one JSON line per exchange to the log file:

    {"seq": N, "method": "POST", "path": "/v1/chat/completions",
     "request": <body as JSON, or null>, "status": 200,
     "response": <body as JSON, or null>, "response_text": <body when not JSON>,
     "seconds": <time the upstream took>}

so the check can read what the server was sent and what it answered,
byte for byte as the two sides saw them. Prints `listening on PORT` on
stdout once it accepts connections. Standard library only.
"""

import argparse
import http.client
import http.server
import json
import sys
import threading
import time

# Hop-by-hop headers (RFC 9110, section 7.6.1) are the proxy's own business.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


def as_json(body):
    try:
        return json.loads(body.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError):
        return None, body.decode("utf-8", errors="replace")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the server")
    parser.add_argument("--log", required=True, help="JSONL file the exchanges are appended to")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the upstream")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    upstream = (host, int(port))
    log = open(args.log, "a", encoding="utf-8")
    lock = threading.Lock()
    counter = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

        def forward(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            started = time.monotonic()
            connection = http.client.HTTPConnection(*upstream, timeout=args.timeout)
            try:
                connection.request(self.command, self.path, body=body if body else None, headers=headers)
                answer = connection.getresponse()
                status = answer.status
                answer_headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
                answer_body = answer.read()
            except OSError as error:
                status = 502
                answer_headers = [("content-type", "text/plain")]
                answer_body = f"recording proxy: upstream failed: {error}".encode()
            finally:
                connection.close()
            seconds = time.monotonic() - started
            self.send_response(status)
            for key, value in answer_headers:
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("content-length", str(len(answer_body)))
            self.end_headers()
            self.wfile.write(answer_body)
            request_json, request_text = as_json(body) if body else (None, None)
            response_json, response_text = as_json(answer_body)
            with lock:
                entry = {
                    "seq": counter[0],
                    "method": self.command,
                    "path": self.path,
                    "request": request_json,
                    "status": status,
                    "response": response_json,
                    "seconds": round(seconds, 6),
                }
                if request_text is not None:
                    entry["request_text"] = request_text
                if response_text is not None:
                    entry["response_text"] = response_text
                counter[0] += 1
                log.write(json.dumps(entry) + "\n")
                log.flush()

        do_GET = forward
        do_POST = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
