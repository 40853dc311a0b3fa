"""File downloads of the report API client (sales_mart.api_client): a signed URL streamed to
a file atomically, checked against ``Content-Length`` and a size cap, hashed and counted.

Where from: a file URL comes from the API, so a hostile or broken API could point a worker at
an internal service. Only https is fetched (plain http from a loopback host in dev, or from
the API's own host with ``allow_http``), and redirects are followed here, one by one, each
target held to the same rule, at most :data:`MAX_REDIRECTS` of them."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from urllib3.util import Retry

from sales_mart.api_errors import (
    DownloadTooLarge,
    IncompleteDownload,
    ReportApiError,
    RetriesExhausted,
)
from sales_mart.api_http import (
    REQUEST_ERRORS,
    RETRY_STATUSES,
    download_refusal,
    error_body,
    redirect_target,
    request_failure,
    tries,
)
from sales_mart.redaction import add_url_secrets, excerpt, host_of, public_url

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    bytes: int
    sha256: str
    rows: int  # data lines, header excluded (0 for an empty or header-only file)


def download(session: requests.Session, url: str, dest: str | os.PathLike[str], *,
             timeout: tuple[float, float], retry: Retry, chunk_size: int,
             max_bytes: int | None = None,
             plain_http_origins: frozenset[tuple[str, int]] = frozenset()) -> DownloadResult:
    """Stream ``url`` to ``dest`` atomically (see ``ReportApiClient.download``)."""
    add_url_secrets(url)
    dest = Path(dest)
    shown = public_url(url)
    what = f"GET {shown}"
    if (refusal := download_refusal(url, plain_http_origins)) is not None:
        raise ReportApiError(f"{what}: refused, {refusal}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    response = _get(session, url, what, timeout=timeout, retry=retry,
                    plain_http_origins=plain_http_origins)
    try:
        with response:
            size, digest, lines = _stream(response, tmp, what, max_bytes, chunk_size)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(dest.parent)
    result = DownloadResult(path=dest, bytes=size, sha256=digest, rows=max(0, lines - 1))
    log.info("downloaded %s to %s: %d bytes, %d rows, sha256 %s", shown, result.path,
             result.bytes, result.rows, result.sha256)
    return result


def _get(session: requests.Session, url: str, what: str, *, timeout: tuple[float, float],
         retry: Retry, plain_http_origins: frozenset[tuple[str, int]]) -> requests.Response:
    """The answer to ``GET url`` once no more redirects, its body unread."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = session.get(url, stream=True, timeout=timeout, allow_redirects=False)
        except REQUEST_ERRORS as exc:
            raise request_failure(what, exc, retry) from None
        if not response.is_redirect:
            return response
        response.close()  # its body unread
        url = redirect_target(response)
        add_url_secrets(url)
        if (refusal := download_refusal(url, plain_http_origins)) is not None:
            raise ReportApiError(f"{what} answered HTTP {response.status_code}, a redirect to "
                                 f"{host_of(url)}: refused, {refusal}")
        log.debug("%s redirected to %s", what, public_url(url))
    raise ReportApiError(f"{what}: more than {MAX_REDIRECTS} redirects, refused")


def _stream(response: requests.Response, tmp: Path, what: str, max_bytes: int | None,
            chunk_size: int) -> tuple[int, str, int]:
    """Writes the body to ``tmp``; returns its size, sha256 and number of lines."""
    status = response.status_code
    if status in RETRY_STATUSES:
        raise RetriesExhausted(f"{what} still answered HTTP {status} after "
                               f"{tries(response)} attempts")
    if status >= 300:
        raise ReportApiError(f"{what} failed with HTTP {status}: "
                             f"{excerpt(error_body(response), 120)}")
    expected = response.headers.get("Content-Length")
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    too_large = (f"{what}: the file is larger than the download cap of {max_bytes} "
                 "bytes (setting sales_mart_max_download_mb)")
    if max_bytes is not None and expected is not None and int(expected) > max_bytes:
        raise DownloadTooLarge(f"{too_large}: Content-Length {expected}")
    digest = hashlib.sha256()
    size = newlines = 0
    last_byte = b""
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.fchmod(fd, 0o640)  # whatever the umask
        with open(fd, "wb") as out:
            for chunk in response.iter_content(chunk_size):
                if max_bytes is not None and size + len(chunk) > max_bytes:
                    raise DownloadTooLarge(too_large)
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                newlines += chunk.count(b"\n")
                last_byte = chunk[-1:] or last_byte
            out.flush()
            os.fsync(out.fileno())
    except (requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ConnectionError, requests.Timeout) as exc:
        raise IncompleteDownload(
            f"{what}: transfer interrupted after {size} bytes"
            f"{f' of {expected}' if expected else ''} ({type(exc).__name__})") from None
    if expected is not None and not encoded and size != int(expected):
        raise IncompleteDownload(f"{what}: received {size} bytes, Content-Length says "
                                 f"{expected}")
    lines = newlines + (1 if last_byte not in (b"", b"\n") else 0)
    return size, digest.hexdigest(), lines


def _fsync_dir(path: Path) -> None:
    """Make the rename durable (where a directory can be opened: not on every platform)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
