"""The sandbox report API: the contract of SPEC §2 over FastAPI, with fault injection.

Public entry points:

- ``SandboxSettings(api_key, *, seed=42, rows_per_day=1000, start_date=None, end_date=None,
  strict_window=False, running_polls=3, today=None, cache_dir=None, public_url=None)``.
- ``create_app(settings, faults=None) -> FastAPI``.
- ``run_in_thread(settings=None, *, host="127.0.0.1", port=0, faults=None, **settings_kwargs)
  -> RunningSandbox`` — starts uvicorn in a daemon thread on a free port (``port=0``) and
  returns once it accepts connections. ``RunningSandbox`` has ``.base_url``, ``.stop()``,
  ``.set_faults(plan_or_dict)``, ``.clear_faults()``, ``.request_counts`` and works as a
  context manager.
- ``serve(settings, *, host, port, faults=None)`` — blocking, for ``sales-mart api serve``.

The report window: by default increments exist for every day of ``[start_date, end_date]``
(defaults: the 7 days before today) and the full report covers the 23 days before
``start_date``. With ``strict_window`` it mimics the real service relative to the day the
report was generated (G): full report G−30…G−8, increments G−7…G−1, ``NOT FOUND`` elsewhere.
The first increment day of the window is served in the old format (no ``status`` column).

File URLs are signed the way object stores presign them: a query string with an expiry and a
signature (``X-Amz-Signature``, an HMAC of the path under a secret of the running server). A file
request without the right signature gets 403, so a client must use the URL exactly as given;
the signatures handed out are kept in ``RunningSandbox.issued_signatures`` (tests look for leaks).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from sales_mart.sandbox import data
from sales_mart.sandbox.faults import HISTORY, FaultPlan, FaultRule

log = logging.getLogger(__name__)

HISTORY_DAYS = data.HISTORY_DAYS
STRICT_HISTORY = (30, 8)  # full report: days G-30 .. G-8
STRICT_INCREMENTS = (7, 1)  # increments: days G-7 .. G-1
REPORT_FILES = ("customer_research", "user_order_log", "user_activity_log", "price_log")
STUB_HEADERS = {  # files the pipeline does not load: a header, and prices for price_log
    "customer_research": "date_id,category_id,geo_id,sales_qty,sales_amt\n",
    "user_activity_log": "id,uniq_id,date_time,action_id,customer_id,quantity\n",
    "price_log": "item_name,price\n",
}


def _default_start() -> dt.date:
    return dt.date.today() - dt.timedelta(days=7)


def _default_end() -> dt.date:
    return dt.date.today() - dt.timedelta(days=1)


@dataclass
class SandboxSettings:
    api_key: str
    seed: int = data.DEFAULT_SEED
    rows_per_day: int = data.DEFAULT_ROWS_PER_DAY
    start_date: dt.date | None = None  # first increment day (old format); default today-7
    end_date: dt.date | None = None  # last increment day; default today-1
    strict_window: bool = False
    running_polls: int = 3  # RUNNING answers before SUCCESS
    today: dt.date | None = None  # "generation day" for the strict window; default real today
    cache_dir: Path | None = None  # where served files are generated; default a temp dir
    public_url: str | None = None  # base of file URLs; default the URL the client used

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("the sandbox needs an API key (--api-key or env SALES_API_KEY)")
        self.start_date = data.as_date(self.start_date) if self.start_date else _default_start()
        self.end_date = data.as_date(self.end_date) if self.end_date else _default_end()
        if self.end_date < self.start_date:
            raise ValueError(f"end date {self.end_date} is before start date {self.start_date}")
        if self.rows_per_day < 1:
            raise ValueError("rows_per_day must be at least 1")

    def __repr__(self) -> str:  # never show the key
        return (f"SandboxSettings(seed={self.seed}, rows_per_day={self.rows_per_day}, "
                f"start_date={self.start_date}, end_date={self.end_date}, "
                f"strict_window={self.strict_window}, running_polls={self.running_polls})")


@dataclass
class _Report:
    task_id: str
    report_id: str
    generated_on: dt.date
    history_first: dt.date
    history_last: dt.date
    increments_first: dt.date
    increments_last: dt.date
    polls: int = 0


@dataclass
class _State:
    settings: SandboxSettings
    faults: FaultPlan
    cache_dir: Path
    reports_by_task: dict[str, _Report] = field(default_factory=dict)
    reports: dict[str, _Report] = field(default_factory=dict)
    request_counts: collections.Counter = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    file_locks: dict[str, threading.Lock] = field(default_factory=dict)
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    issued_signatures: set[str] = field(default_factory=set)

    def signature(self, path: str) -> str:
        return hmac.new(self.signing_key, path.encode(), hashlib.sha256).hexdigest()

    def sign(self, url: str, path: str) -> str:
        """A presigned-looking URL: expiry and signature in the query string."""
        signature = self.signature(path)
        with self.lock:
            self.issued_signatures.add(signature)
        return f"{url}?X-Amz-Expires=3600&X-Amz-Signature={signature}"


def _window(settings: SandboxSettings, generated_on: dt.date) -> tuple[dt.date, ...]:
    if settings.strict_window:
        day = dt.timedelta(days=1)
        return (generated_on - STRICT_HISTORY[0] * day, generated_on - STRICT_HISTORY[1] * day,
                generated_on - STRICT_INCREMENTS[0] * day,
                generated_on - STRICT_INCREMENTS[1] * day)
    first, last = settings.start_date, settings.end_date
    return (first - dt.timedelta(days=HISTORY_DAYS), first - dt.timedelta(days=1), first, last)


def _midnight(day: dt.date) -> str:
    return f"{day.isoformat()} 00:00:00"


def _check_headers(request: Request, settings: SandboxSettings) -> JSONResponse | None:
    key = request.headers.get("x-api-key")
    if not key:
        return JSONResponse({"detail": "missing X-API-KEY header"}, status_code=401)
    if not hmac.compare_digest(key.encode(), settings.api_key.encode()):
        return JSONResponse({"detail": "invalid API key"}, status_code=403)
    for name in ("X-Nickname", "X-Cohort"):
        if not request.headers.get(name):
            return JSONResponse({"detail": f"missing header {name}"}, status_code=400)
    if request.headers.get("x-project") != "True":
        return JSONResponse({"detail": "header X-Project must be 'True'"}, status_code=400)
    return None


async def _injected(rule: FaultRule | None, request: Request | None = None) -> Response | None:
    """Apply a rule's delay; return the response that replaces the normal one, if any."""
    if rule is None:
        return None
    if rule.delay:
        await asyncio.sleep(rule.delay)
    if rule.redirect_to is not None:
        target = rule.redirect_to.rstrip("/")
        if request is not None:
            target += request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Response(status_code=307, headers={"Location": target})
    headers = {}
    if rule.retry_after is not None:
        headers["Retry-After"] = str(int(rule.retry_after)) if rule.retry_after.is_integer() \
            else str(rule.retry_after)
    if rule.body is not None:
        status = rule.status or 200
        if rule.repeat > 1:
            body = rule.body.encode()

            async def repeated():
                for _ in range(rule.repeat):
                    yield body
            return StreamingResponse(repeated(), status_code=status,
                                     media_type="application/json", headers=headers)
        return Response(rule.body, status_code=status, media_type="application/json",
                        headers=headers)
    if rule.status is not None:
        return JSONResponse({"detail": f"injected fault: HTTP {rule.status}"},
                            status_code=rule.status, headers=headers)
    return None


def create_app(settings: SandboxSettings, faults: FaultPlan | None = None) -> FastAPI:
    """The FastAPI app; its state is ``app.state.sandbox`` (faults can be swapped live)."""
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else Path(
        tempfile.mkdtemp(prefix="sales-mart-sandbox-"))
    cache_dir.mkdir(parents=True, exist_ok=True)
    state = _State(settings=settings, faults=faults or FaultPlan(), cache_dir=cache_dir)
    app = FastAPI(title="sales_mart sandbox report API", docs_url=None, redoc_url=None)
    app.state.sandbox = state

    def base_url(request: Request) -> str:
        return (settings.public_url or str(request.base_url)).rstrip("/")

    def count(endpoint: str) -> None:
        with state.lock:
            state.request_counts[endpoint] += 1

    @app.post("/generate_report")
    async def generate_report(request: Request) -> Response:
        count("generate_report")
        if (denied := _check_headers(request, settings)) is not None:
            return denied
        if (injected := await _injected(state.faults.take("generate_report"), request)) is not None:
            return injected
        generated_on = settings.today or dt.date.today()
        hist_first, hist_last, inc_first, inc_last = _window(settings, generated_on)
        report = _Report(task_id=uuid.uuid4().hex, report_id=uuid.uuid4().hex[:16],
                         generated_on=generated_on, history_first=hist_first,
                         history_last=hist_last, increments_first=inc_first,
                         increments_last=inc_last)
        with state.lock:
            state.reports_by_task[report.task_id] = report
            state.reports[report.report_id] = report
        return JSONResponse({"task_id": report.task_id})

    @app.get("/get_report")
    async def get_report(request: Request, task_id: str = "") -> Response:
        count("get_report")
        if (denied := _check_headers(request, settings)) is not None:
            return denied
        if (injected := await _injected(state.faults.take("get_report"), request)) is not None:
            return injected
        report = state.reports_by_task.get(task_id)
        if report is None:
            return JSONResponse({"detail": f"unknown task_id {task_id!r}"}, status_code=404)
        with state.lock:
            report.polls += 1
            polls = report.polls
        running_polls = state.faults.running_polls
        if running_polls is None:
            running_polls = settings.running_polls
        if state.faults.stuck_running or polls <= running_polls:
            return JSONResponse({"task_id": task_id, "status": "RUNNING"})
        path = f"/files/{report.report_id}"
        return JSONResponse({
            "task_id": task_id,
            "status": "SUCCESS",
            "data": {
                "report_id": report.report_id,
                "start_day": _midnight(report.history_first),
                "end_date": _midnight(report.history_last),
                "s3_path": {name: state.sign(f"{base_url(request)}{path}/{name}.csv",
                                             f"{path}/{name}.csv") for name in REPORT_FILES},
            },
        })

    @app.get("/get_increment")
    async def get_increment(request: Request, report_id: str = "", date: str = "") -> Response:
        count("get_increment")
        if (denied := _check_headers(request, settings)) is not None:
            return denied
        try:
            day = data.as_date(date)
        except ValueError:
            return JSONResponse({"detail": f"date must look like YYYY-MM-DDT00:00:00, got "
                                           f"{date[:40]!r}"}, status_code=400)
        injected = await _injected(state.faults.take("get_increment", day.isoformat()),
                                   request)
        if injected is not None:
            return injected
        report = state.reports.get(report_id)
        if report is None:
            return JSONResponse({"detail": f"unknown report_id {report_id!r}"}, status_code=404)
        reason = None
        if day.isoformat() in state.faults.not_found_dates:
            reason = f"no increment for {day} (injected)"
        elif not report.increments_first <= day <= report.increments_last:
            reason = (f"increments of this report exist for {report.increments_first} .. "
                      f"{report.increments_last} only")
        if reason:
            return JSONResponse({"report_id": report_id, "date": _midnight(day),
                                 "status": "NOT FOUND", "reason": reason})
        path = f"/files/{report_id}/increments/{day.isoformat()}"
        return JSONResponse({
            "report_id": report_id,
            "date": _midnight(day),
            "status": "SUCCESS",
            "data": {
                "increment_id": f"{report_id}-{day:%Y%m%d}",
                "s3_path": {f"{name}_inc": state.sign(f"{base_url(request)}{path}/{name}_inc.csv",
                                                      f"{path}/{name}_inc.csv")
                            for name in REPORT_FILES},
            },
        })

    def materialize(report: _Report, day: dt.date | None, name: str) -> Path:
        """Generate (once) the file a URL names, in the cache; return its path."""
        day_key = HISTORY if day is None else day.isoformat()
        variant = state.faults.file_variant(day_key)
        if name != "user_order_log":
            stub = f"{name}-{variant == 'zero_bytes'}.csv"
            path = state.cache_dir / stub
            if not path.exists():
                text = "" if variant == "zero_bytes" else STUB_HEADERS[name]
                if name == "price_log" and variant == "normal":
                    text += "".join(f"{n},{p // 100}.{p % 100:02d}\n"
                                    for n, p in data.ITEMS.values())
                path.write_text(text, encoding="utf-8")
            return path
        if day is None:
            key = (f"history-{settings.seed}-{settings.rows_per_day}-"
                   f"{report.history_last}-{report.history_first}-{variant}.csv")
        else:
            old = day <= report.increments_first
            key = f"inc-{settings.seed}-{settings.rows_per_day}-{day}-{int(old)}-{variant}.csv"
        path = state.cache_dir / key
        with state.lock:
            file_lock = state.file_locks.setdefault(key, threading.Lock())
        with file_lock:
            if not path.exists():
                if day is None:
                    days = (report.history_last - report.history_first).days + 1
                    data.write_history(path, end_date=report.history_last, seed=settings.seed,
                                       days=days, rows_per_day=settings.rows_per_day,
                                       variant=variant)
                else:
                    data.write_increment(path, day, seed=settings.seed,
                                         rows_per_day=settings.rows_per_day,
                                         old_format=day <= report.increments_first,
                                         variant=variant)
        return path

    async def serve_file(request: Request, report_id: str, day: dt.date | None,
                         filename: str) -> Response:
        count("download")
        expected = state.signature(request.url.path)
        if not hmac.compare_digest(request.query_params.get("X-Amz-Signature", ""), expected):
            return JSONResponse({"detail": "signature does not match"}, status_code=403)
        report = state.reports.get(report_id)
        name = filename.removesuffix(".csv").removesuffix("_inc")
        if report is None or name not in REPORT_FILES:
            return JSONResponse({"detail": "no such file"}, status_code=404)
        rule = state.faults.take("download", HISTORY if day is None else day.isoformat())
        if (injected := await _injected(rule)) is not None:
            return injected
        path = await run_in_threadpool(materialize, report, day, name)
        media_type = "text/csv; charset=utf-8"
        if rule is not None and rule.cut_off is not None:
            size = path.stat().st_size
            sent = int(size * rule.cut_off)

            async def first_part():
                with open(path, "rb") as fh:
                    left = sent
                    while left > 0:
                        chunk = fh.read(min(left, 1 << 20))
                        if not chunk:
                            break
                        left -= len(chunk)
                        yield chunk
            # Content-Length promises the whole file; the server drops the connection early
            return StreamingResponse(first_part(), media_type=media_type,
                                     headers={"Content-Length": str(size)})
        return FileResponse(path, media_type=media_type, filename=filename)

    @app.get("/files/{report_id}/{filename}")
    async def report_file(request: Request, report_id: str, filename: str) -> Response:
        return await serve_file(request, report_id, None, filename)

    @app.get("/files/{report_id}/increments/{day}/{filename}")
    async def increment_file(request: Request, report_id: str, day: str,
                             filename: str) -> Response:
        try:
            parsed = data.as_date(day)
        except ValueError:
            return JSONResponse({"detail": "no such file"}, status_code=404)
        return await serve_file(request, report_id, parsed, filename)

    # Test and demo helpers, behind the same key: swap the fault plan, read request counts.
    @app.put("/_sandbox/faults")
    async def put_faults(request: Request) -> Response:
        if (denied := _check_headers(request, settings)) is not None:
            return denied
        try:
            state.faults = FaultPlan.from_dict(await request.json())
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return JSONResponse(state.faults.to_dict())

    @app.get("/_sandbox/stats")
    async def stats(request: Request) -> Response:
        if (denied := _check_headers(request, settings)) is not None:
            return denied
        return JSONResponse({"request_counts": dict(state.request_counts),
                             "faults": state.faults.to_dict()})

    return app


class RunningSandbox:
    """A sandbox served by uvicorn in a background thread (see :func:`run_in_thread`)."""

    def __init__(self, app: FastAPI, server: uvicorn.Server, thread: threading.Thread,
                 host: str, port: int, owned_cache: Path | None) -> None:
        self.app = app
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self._owned_cache = owned_cache

    @property
    def _state(self) -> _State:
        return self.app.state.sandbox

    @property
    def settings(self) -> SandboxSettings:
        return self._state.settings

    @property
    def issued_signatures(self) -> set[str]:
        """Every file-URL signature handed out so far."""
        with self._state.lock:
            return set(self._state.issued_signatures)

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests received so far per endpoint (generate_report, ..., download)."""
        with self._state.lock:
            return dict(self._state.request_counts)

    def set_faults(self, faults: FaultPlan | dict[str, Any] | None) -> FaultPlan:
        """Replace the fault plan (a FaultPlan or its JSON dict) and reset request counts."""
        plan = faults if isinstance(faults, FaultPlan) else FaultPlan.from_dict(faults)
        with self._state.lock:
            self._state.faults = plan
            self._state.request_counts.clear()
        return plan

    def clear_faults(self) -> None:
        self.set_faults(None)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._owned_cache is not None:
            shutil.rmtree(self._owned_cache, ignore_errors=True)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSandbox({self.base_url})"


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run_in_thread(
    settings: SandboxSettings | None = None, *, host: str = "127.0.0.1", port: int = 0,
    faults: FaultPlan | dict[str, Any] | None = None, log_level: str = "warning",
    **settings_kwargs: Any,
) -> RunningSandbox:
    """Start the sandbox in a daemon thread; return when it accepts connections.

    ``run_in_thread(settings=None, *, host="127.0.0.1", port=0, faults=None,
    log_level="warning", **settings_kwargs)`` — pass a :class:`SandboxSettings` or its fields
    (``api_key=...``, ``seed=...``, ``start_date=...``...). ``port=0`` picks a free port. The
    result has ``.base_url`` and ``.stop()``; a temporary file cache is removed on stop.
    """
    if settings is None:
        settings = SandboxSettings(**settings_kwargs)
    elif settings_kwargs:
        raise TypeError("pass either settings or its fields, not both")
    owned_cache = None
    if settings.cache_dir is None:
        owned_cache = Path(tempfile.mkdtemp(prefix="sales-mart-sandbox-"))
        settings.cache_dir = owned_cache
    plan = faults if isinstance(faults, FaultPlan) else FaultPlan.from_dict(faults)
    app = create_app(settings, plan)
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"sales-mart-sandbox-{actual_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the sandbox did not start on {host}:{actual_port}")
        time.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    log.info("sandbox report API listening on http://%s:%s", url_host, actual_port)
    return RunningSandbox(app, server, thread, url_host, actual_port, owned_cache)


def serve(settings: SandboxSettings, *, host: str = "127.0.0.1", port: int = 8000,
          faults: FaultPlan | None = None, log_level: str = "info") -> None:
    """Serve in the foreground until interrupted (``sales-mart api serve``)."""
    owned_cache = None
    if settings.cache_dir is None:
        owned_cache = Path(tempfile.mkdtemp(prefix="sales-mart-sandbox-"))
        settings.cache_dir = owned_cache
    try:
        app = create_app(settings, faults)
        uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="off")
    finally:
        if owned_cache is not None:
            shutil.rmtree(owned_cache, ignore_errors=True)
