"""Fault injection for the sandbox API: what can go wrong, per endpoint, and for how long.

A fault plan is a small JSON document (``sales-mart api serve --faults FILE``), or the same
dict passed to ``run_in_thread(faults=...)`` / ``RunningSandbox.set_faults(...)``::

    {
      "endpoints": {
        "generate_report": [{"status": 503, "times": 2}],
        "get_report":      [{"status": 429, "retry_after": 1}],
        "get_increment":   [{"delay": 5, "times": "always", "dates": ["2024-03-05"]}],
        "download":        [{"cut_off": 0.5, "times": 1}]
      },
      "stuck_running": false,
      "running_polls": 3,
      "not_found_dates": ["2024-03-06"],
      "file_faults": {"2024-03-07": "malformed", "history": "empty"}
    }

A rule answers a request of its endpoint instead of (or, for ``delay`` alone, before) the
normal answer. Each request uses the first rule that still has uses left and matches its date;
``times`` is a count (default 1) or ``"always"``. Rule fields: ``status`` (e.g. 500, 503, 429),
``retry_after`` (seconds, sent as ``Retry-After``; default 1 for 429), ``delay`` (seconds
before answering), ``body`` (a literal body sent with HTTP 200, or with ``status`` when both
are given, e.g. broken JSON or a 401 that echoes the key), ``repeat`` (the body sent that many
times over, streamed: a huge answer the sandbox never holds whole),
``cut_off`` (download only: the share of the file sent before the connection is dropped),
``dates`` (only requests for these dates; ``"history"`` means the full report's file),
``redirect_to`` (answer ``307 Temporary Redirect`` to that URL, the request's path and query
appended: a moved or hostile API).
File faults replace a file's content with a variant of
:data:`sales_mart.sandbox.data.VARIANTS` (``malformed``, ``empty``, ``zero_bytes``,
``few_customers``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sales_mart.sandbox.data import VARIANTS, as_date

ENDPOINTS = ("generate_report", "get_report", "get_increment", "download")
FILE_FAULTS = tuple(v for v in VARIANTS if v != "normal")
HISTORY = "history"


def _date_key(value: Any) -> str:
    """A date as ``YYYY-MM-DD``, or the word ``history``."""
    if str(value) == HISTORY:
        return HISTORY
    try:
        return as_date(value).isoformat()
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD) or 'history': {value!r}") from None


@dataclass
class FaultRule:
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    body: str | None = None
    cut_off: float | None = None
    redirect_to: str | None = None
    repeat: int = 1
    times: int | None = 1  # None: every matching request
    dates: frozenset[str] | None = None
    used: int = 0

    @classmethod
    def from_dict(cls, endpoint: str, raw: dict[str, Any]) -> FaultRule:
        known = {"status", "retry_after", "delay", "body", "repeat", "cut_off", "redirect_to",
                 "times", "dates"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{endpoint}: unknown fault field(s) {sorted(unknown)}; "
                             f"known: {sorted(known)}")
        times = raw.get("times", 1)
        if times == "always" or times is None:
            times = None
        elif not isinstance(times, int) or times < 1:
            raise ValueError(f"{endpoint}: times must be a positive integer or 'always'")
        status = raw.get("status")
        if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError(f"{endpoint}: status must be an HTTP error code, got {status!r}")
        retry_after = raw.get("retry_after")
        if retry_after is None and status == 429:
            retry_after = 1
        cut_off = raw.get("cut_off")
        if cut_off is not None:
            if endpoint != "download":
                raise ValueError(f"{endpoint}: cut_off applies to the download endpoint only")
            if not 0 <= float(cut_off) < 1:
                raise ValueError("download: cut_off is the share of the file sent, in [0, 1)")
        repeat = raw.get("repeat", 1)
        if not isinstance(repeat, int) or repeat < 1 or (repeat > 1 and raw.get("body") is None):
            raise ValueError(f"{endpoint}: repeat is a positive integer, and needs a body")
        dates = raw.get("dates")
        rule = cls(
            status=status,
            retry_after=None if retry_after is None else float(retry_after),
            delay=float(raw.get("delay", 0) or 0),
            body=raw.get("body"),
            cut_off=None if cut_off is None else float(cut_off),
            redirect_to=raw.get("redirect_to"),
            repeat=repeat,
            times=times,
            dates=None if dates is None else frozenset(_date_key(d) for d in dates),
        )
        if (rule.status is None and rule.body is None and rule.cut_off is None
                and rule.redirect_to is None and not rule.delay):
            raise ValueError(f"{endpoint}: a fault needs status, body, cut_off, redirect_to or "
                             "delay")
        return rule

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"times": "always" if self.times is None else self.times}
        for name in ("status", "retry_after", "body", "cut_off", "redirect_to"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.delay:
            out["delay"] = self.delay
        if self.repeat != 1:
            out["repeat"] = self.repeat
        if self.dates is not None:
            out["dates"] = sorted(self.dates)
        return out


@dataclass
class FaultPlan:
    """The faults a running sandbox applies; safe to consult from several threads."""

    endpoints: dict[str, list[FaultRule]] = field(default_factory=dict)
    stuck_running: bool = False
    running_polls: int | None = None  # overrides the server's setting when given
    not_found_dates: frozenset[str] = frozenset()
    file_faults: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> FaultPlan:
        raw = dict(raw or {})
        known = {"endpoints", "stuck_running", "running_polls", "not_found_dates",
                 "file_faults"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault config key(s) {sorted(unknown)}; known: "
                             f"{sorted(known)}")
        endpoints: dict[str, list[FaultRule]] = {}
        for endpoint, rules in (raw.get("endpoints") or {}).items():
            if endpoint not in ENDPOINTS:
                raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
            if isinstance(rules, dict):
                rules = [rules]
            endpoints[endpoint] = [FaultRule.from_dict(endpoint, r) for r in rules]
        file_faults = {}
        for day, kind in (raw.get("file_faults") or {}).items():
            if kind not in FILE_FAULTS:
                raise ValueError(f"file fault for {day}: {kind!r} is not one of {FILE_FAULTS}")
            file_faults[_date_key(day)] = kind
        running_polls = raw.get("running_polls")
        if running_polls is not None and (not isinstance(running_polls, int) or running_polls < 0):
            raise ValueError("running_polls must be a non-negative integer")
        return cls(
            endpoints=endpoints,
            stuck_running=bool(raw.get("stuck_running", False)),
            running_polls=running_polls,
            not_found_dates=frozenset(_date_key(d) for d in raw.get("not_found_dates") or ()),
            file_faults=file_faults,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> FaultPlan:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"fault config {path} is not valid JSON: {exc}") from None
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "endpoints": {e: [r.to_dict() for r in rules] for e, rules in self.endpoints.items()},
            "stuck_running": self.stuck_running,
            "not_found_dates": sorted(self.not_found_dates),
            "file_faults": dict(self.file_faults),
        }
        if self.running_polls is not None:
            out["running_polls"] = self.running_polls
        return out

    def take(self, endpoint: str, day: str | None = None) -> FaultRule | None:
        """The rule that answers this request, if any; it counts as one use of the rule."""
        with self._lock:
            for rule in self.endpoints.get(endpoint, ()):
                if rule.times is not None and rule.used >= rule.times:
                    continue
                if rule.dates is not None and day not in rule.dates:
                    continue
                rule.used += 1
                return rule
        return None

    def file_variant(self, day: str) -> str:
        return self.file_faults.get(day, "normal")


def _parse_times(text: str) -> int | str:
    return "always" if text == "always" else int(text)


def plan_from_flags(
    *, base: FaultPlan | None = None, fail: list[str] = (), slow: list[str] = (),
    retry_after: float = 1.0, cut_download: str | None = None, stuck_running: bool = False,
    not_found: list[str] = (), file_fault: list[str] = (),
) -> FaultPlan:
    """Build a plan from ``sales-mart api serve`` flags, added after a ``--faults`` file.

    ``fail``: ``ENDPOINT=STATUS[:TIMES]``; ``slow``: ``ENDPOINT=SECONDS[:TIMES]``;
    ``cut_download``: ``TIMES``; ``not_found``: dates; ``file_fault``: ``DATE=KIND``.
    """
    raw = base.to_dict() if base else {}
    endpoints = raw.setdefault("endpoints", {})
    try:
        for spec in fail:
            endpoint, _, value = spec.partition("=")
            status, _, times = value.partition(":")
            rule: dict[str, Any] = {"status": int(status), "times": _parse_times(times or "1")}
            if int(status) in (429, 503):
                rule["retry_after"] = retry_after
            endpoints.setdefault(endpoint, []).append(rule)
        for spec in slow:
            endpoint, _, value = spec.partition("=")
            seconds, _, times = value.partition(":")
            endpoints.setdefault(endpoint, []).append(
                {"delay": float(seconds), "times": _parse_times(times or "1")})
    except ValueError:
        raise ValueError(f"cannot parse fault flag {spec!r}: expected ENDPOINT=NUMBER[:TIMES]"
                         f" with TIMES a count or 'always'") from None
    if cut_download:
        endpoints.setdefault("download", []).append(
            {"cut_off": 0.5, "times": _parse_times(cut_download)})
    if stuck_running:
        raw["stuck_running"] = True
    raw["not_found_dates"] = list(raw.get("not_found_dates", ())) + list(not_found)
    file_faults = raw.setdefault("file_faults", {})
    for spec in file_fault:
        day, _, kind = spec.partition("=")
        file_faults[day] = kind
    return FaultPlan.from_dict(raw)
