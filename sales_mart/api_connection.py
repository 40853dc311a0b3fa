"""The report API client's settings (sales_mart.api_client): read from the Airflow connection
``sales_api``, and checked before any request is made."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sales_mart.api_errors import ConfigError
from sales_mart.api_http import is_loopback
from sales_mart.redaction import add_secret


def settings_from_connection(conn: Any) -> dict[str, Any]:
    """``ReportApiClient`` keyword arguments from an Airflow ``Connection`` (or anything with
    the same attributes).

    ``host`` is the base URL with scheme (``https://reports.example.net``), or a bare host
    completed by ``schema`` (the scheme, default https) and ``port``; ``password`` is the
    API key (extra ``api_key`` also accepted); extras ``nickname`` and ``cohort``. Optional
    extras ``connect_timeout``, ``read_timeout``, ``download_read_timeout`` override the
    defaults, ``allow_http`` allows plain http to a host that is not loopback.
    """
    extra = getattr(conn, "extra_dejson", None) or {}
    host = (getattr(conn, "host", None) or "").strip()
    if not host:
        raise ConfigError("connection sales_api has no host; set it to the API base URL, "
                          "e.g. https://reports.example.net")
    if "://" in host:
        base_url = host
    else:
        scheme = (getattr(conn, "schema", None) or "https").strip().lower()
        if scheme not in ("http", "https"):
            scheme = "https"
        port = getattr(conn, "port", None)
        host, _, path = host.partition("/")
        base_url = f"{scheme}://{host}{f':{port}' if port else ''}"
        if path:
            base_url += "/" + path
    settings: dict[str, Any] = {
        "base_url": base_url,
        "api_key": getattr(conn, "password", None) or extra.get("api_key") or "",
        "nickname": extra.get("nickname") or "",
        "cohort": str(extra.get("cohort") or ""),
    }
    for name in ("connect_timeout", "read_timeout", "download_read_timeout"):
        if extra.get(name) is not None:
            settings[name] = float(extra[name])
    if str(extra.get("allow_http", "")).lower() in ("true", "1", "yes"):
        settings["allow_http"] = True
    return settings


def checked_settings(base_url: str, api_key: str, nickname: str, cohort: str, *,
                     allow_http: bool) -> str:
    """The base URL without a trailing slash, once every setting is there and usable; else
    :class:`ConfigError` saying what to fix. The key is registered for redaction first."""
    missing = [name for name, value in (("base_url", base_url), ("api_key", api_key),
                                        ("nickname", nickname), ("cohort", cohort))
               if not str(value or "").strip()]
    if missing:
        raise ConfigError(f"report API client is missing {', '.join(missing)}; set them on "
                          "the Airflow connection sales_api (host, password, extra "
                          "nickname / cohort)")
    add_secret(api_key)  # masked in every message from now on
    if (bad := _unsendable(api_key)) is not None:
        # requests would refuse it with InvalidHeader, a message that quotes the key
        raise ConfigError(
            f"the API key (password of the Airflow connection sales_api) holds whitespace, "
            f"a control or a non-ASCII character at character {bad + 1} of {len(api_key)} "
            "(a trailing newline from a secrets file?): set it again without; the key is not "
            "shown here")
    base_url = base_url.rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"base URL {base_url!r} needs a scheme (https://)")
    if parts.scheme == "http" and not (allow_http or is_loopback(parts.hostname)):
        raise ConfigError(
            f"base URL {base_url!r}: the API key is sent only over https (http is allowed on "
            "a loopback host; for a sandbox on a private network set the extra "
            '"allow_http": true on the connection sales_api)')
    return base_url


def _unsendable(key: str) -> int | None:
    """Where the key has a character a header cannot carry as is (whitespace, a control or a
    non-ASCII character), or None."""
    return next((i for i, char in enumerate(key) if not "!" <= char <= "~"), None)
