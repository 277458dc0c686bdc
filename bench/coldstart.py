#!/usr/bin/env python3
"""Cold start of the local server: time from process start to the first 200.

For each path, RUNS times: start `navigator serve` on an already-migrated
database, then poll the port as fast as possible (a fresh TCP connection and
one HTTP/1.1 request per attempt, 0.2 ms between refused attempts) until the
path answers 200, and stop the server. The time runs from just before
`posix_spawn` to the end of the 200's status line, so it includes exec, the
runtime start, `serve`'s migration check, the JWT secret, binding the port
and, for a record, opening the first pool connection, verifying the token
and the query. Its resolution is the polling interval plus the poller's own
overhead (well under 1 ms).

Prints one line per path: `COLD <path-label> median_ms=.. min_ms=.. max_ms=..`.
Environment: the server's (DATABASE_URL, NAVIGATOR_JWT_SECRET) is inherited.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time


def first_200(port: int, path: str, token: str, deadline: float) -> float:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + (f"Authorization: Bearer {token}\r\n" if token else "")
        + "\r\n"
    ).encode()
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(request)
                head = b""
                while b"\r\n" not in head:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                if head.startswith(b"HTTP/1.1 200"):
                    return time.perf_counter()
        except (ConnectionRefusedError, ConnectionResetError):
            pass
        time.sleep(0.0002)
    raise TimeoutError(f"no 200 from {path} within the deadline")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--token", default="")
    parser.add_argument("--patient-id", required=True)
    args = parser.parse_args()

    targets = [("health", "/health", ""), ("patient", f"/v1/patients/{args.patient_id}", args.token)]
    for label, path, token in targets:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            server = subprocess.Popen(
                [args.bin, "serve", "--addr", f"127.0.0.1:{args.port}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=os.environ,
            )
            try:
                ended = first_200(args.port, path, token, started + 10)
                times.append((ended - started) * 1000)
            finally:
                server.terminate()
                server.wait()
        print(
            f"COLD {label} median_ms={statistics.median(times):.2f} "
            f"min_ms={min(times):.2f} max_ms={max(times):.2f} runs={len(times)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
