"""Constants and helpers shared by the report API tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading

from sales_mart.api_client import ReportApiClient, default_retry

API_KEY = "sbx-test-key-5c1f0e9a2b"
NICKNAME = "tester"
COHORT = "7"
SEED = 11
ROWS_PER_DAY = 400
FIRST_DAY = dt.date(2024, 3, 4)  # the window's first increment day: old format
LAST_DAY = dt.date(2024, 3, 10)
RUNNING_POLLS = 2

HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,item_id,"
          "item_name,quantity,payment_amount,status").split(",")
HEADER_OLD = HEADER[:-1]

# Tests must not wait seconds for backoff: same shape as production, smaller numbers.
FAST_RETRY = default_retry(total=3, backoff_factor=0.01, backoff_max=0.05, retry_after_max=2)


def make_client(base_url: str, **kwargs) -> ReportApiClient:
    options = dict(connect_timeout=2.0, read_timeout=2.0, download_read_timeout=2.0,
                   retry=FAST_RETRY)
    options.update(kwargs)
    return ReportApiClient(base_url, options.pop("api_key", API_KEY), NICKNAME, COHORT,
                           **options)


class Catcher:
    """An HTTP server on another host address (default 127.0.0.2, another loopback host) that
    records every request's path and headers: the place a hostile redirect or file URL would
    send the client. It answers 200 with a small JSON body."""

    def __init__(self, host: str = "127.0.0.2"):
        self.requests = []
        catcher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self):
                catcher.requests.append({"path": self.path, **dict(self.headers)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "21")
                self.end_headers()
                self.wfile.write(b'{"task_id": "stolen"}')

            do_GET = do_POST = _record

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not a loopback one (the interface a packet to
    a documentation address would leave by; a UDP connect sends nothing), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def pieces(secret: str, size: int = 10) -> list[str]:
    """Every run of ``size`` characters of ``secret``: what a cut or a partial mask leaves."""
    return [secret[i:i + size] for i in range(max(1, len(secret) - size + 1))]


def assert_no_piece_of(secret: str, *texts: str) -> None:
    """No run of 10 characters of ``secret`` in any of ``texts``."""
    found = [piece for piece in pieces(secret) for text in texts if piece in text]
    assert not found, f"{len(found)} pieces of a secret leaked, e.g. {found[0]!r}"
