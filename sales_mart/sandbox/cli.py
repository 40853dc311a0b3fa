"""``sales-mart api serve`` and ``sales-mart api export`` (see docs/report-api.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from sales_mart.sandbox import data


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=data.DEFAULT_SEED,
                        help=f"data seed; same seed, same files (default {data.DEFAULT_SEED})")
    parser.add_argument("--rows-per-day", type=_positive, default=data.DEFAULT_ROWS_PER_DAY,
                        help="average rows of a day's file, duplicates included, ±15%% per day "
                             f"(default {data.DEFAULT_ROWS_PER_DAY})")
    parser.add_argument("--start-date", type=_date, default=None,
                        help="first increment day of the window, served in the old format; "
                             "the full report covers the 23 days before it (default: today-7)")


def register(subparsers: argparse._SubParsersAction) -> None:
    api = subparsers.add_parser("api", help="the local sandbox of the report API",
                                description="The local sandbox of the sales report API.")
    sub = api.add_subparsers(dest="api_command", required=True, metavar="SUBCOMMAND")

    serve = sub.add_parser(
        "serve", help="serve the sandbox report API",
        description="Serve the report API contract (SPEC §2) with generated data and optional "
                    "fault injection. Stops on Ctrl-C.")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any)")
    serve.add_argument("--api-key", default=None,
                       help="the only key accepted (default: env SALES_API_KEY)")
    _add_data_flags(serve)
    serve.add_argument("--end-date", type=_date, default=None,
                       help="last increment day of the window (default: today-1)")
    serve.add_argument("--strict-window", action="store_true",
                       help="mimic the real service: full report for days -30..-8, increments "
                            "for days -7..-1 of the report's generation day, NOT FOUND elsewhere")
    serve.add_argument("--today", type=_date, default=None,
                       help="pretend the reports are generated on this day (strict window)")
    serve.add_argument("--running-polls", type=int, default=3,
                       help="RUNNING answers before a report is SUCCESS (default 3)")
    serve.add_argument("--public-url", default=None,
                       help="base of the file URLs in answers (default: the URL the client used)")
    serve.add_argument("--cache-dir", type=Path, default=None,
                       help="where served files are generated (default: a temporary directory)")
    serve.add_argument("--faults", type=Path, default=None, metavar="FILE",
                       help="fault config, JSON (see docs/report-api.md)")
    serve.add_argument("--fail", action="append", default=[], metavar="ENDPOINT=STATUS[:TIMES]",
                       help="answer ENDPOINT (generate_report, get_report, get_increment, "
                            "download) with HTTP STATUS, TIMES times (default 1, or 'always')")
    serve.add_argument("--retry-after", type=float, default=1.0,
                       help="Retry-After seconds sent with --fail 429/503 (default 1)")
    serve.add_argument("--slow", action="append", default=[], metavar="ENDPOINT=SECONDS[:TIMES]",
                       help="delay ENDPOINT's answer by SECONDS, TIMES times")
    serve.add_argument("--cut-download", default=None, metavar="TIMES",
                       help="drop the connection halfway through TIMES downloads ('always')")
    serve.add_argument("--stuck-running", action="store_true",
                       help="reports never leave RUNNING")
    serve.add_argument("--not-found", action="append", default=[], type=_date, metavar="DATE",
                       help="get_increment answers NOT FOUND for DATE (repeatable)")
    serve.add_argument("--file-fault", action="append", default=[], metavar="DATE=KIND",
                       help="serve DATE's file (or 'history') as KIND: malformed, empty, "
                            "zero_bytes, few_customers (repeatable)")
    serve.set_defaults(func=run_serve)

    export = sub.add_parser(
        "export", help="write the file the sandbox would serve, without a server",
        description="Write the user_order_log file the sandbox serves for a day (or the full "
                    "report with --history), without a server.")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--date", type=_date, help="the increment day")
    what.add_argument("--history", action="store_true", help="the full report (old format)")
    export.add_argument("--out", type=Path, required=True, help="the file to write")
    _add_data_flags(export)
    export.add_argument("--days", type=_positive, default=data.HISTORY_DAYS,
                        help=f"days in the full report (default {data.HISTORY_DAYS})")
    export.add_argument("--format", choices=("auto", "old", "new"), default="auto",
                        help="increment columns: old (no status, no refunds), new, or auto: "
                             "old only for --start-date, the window's first day (default)")
    export.add_argument("--variant", choices=data.VARIANTS, default="normal",
                        help="file variant, as the fault --file-fault serves (default normal)")
    export.set_defaults(func=run_export)


def _start_date(args: argparse.Namespace) -> dt.date:
    return args.start_date or dt.date.today() - dt.timedelta(days=7)


def run_serve(args: argparse.Namespace) -> int:
    from sales_mart.sandbox.faults import FaultPlan, plan_from_flags
    from sales_mart.sandbox.server import SandboxSettings, serve

    api_key = args.api_key or os.environ.get("SALES_API_KEY", "")
    if not api_key:
        print("sales-mart api serve: no API key; pass --api-key or set SALES_API_KEY",
              file=sys.stderr)
        return 2
    try:
        base = FaultPlan.from_file(args.faults) if args.faults else None
        plan = plan_from_flags(
            base=base, fail=args.fail, slow=args.slow, retry_after=args.retry_after,
            cut_download=args.cut_download, stuck_running=args.stuck_running,
            not_found=[d.isoformat() for d in args.not_found], file_fault=args.file_fault)
        settings = SandboxSettings(
            api_key=api_key, seed=args.seed, rows_per_day=args.rows_per_day,
            start_date=_start_date(args), end_date=args.end_date,
            strict_window=args.strict_window, running_polls=args.running_polls,
            today=args.today, cache_dir=args.cache_dir, public_url=args.public_url)
    except (OSError, ValueError) as exc:
        print(f"sales-mart api serve: {exc}", file=sys.stderr)
        return 2
    window = ("strict (days -30..-8 full report, -7..-1 increments)" if settings.strict_window
              else f"increments {settings.start_date}..{settings.end_date}")
    print(f"sandbox report API: {window}, seed {settings.seed}, {settings.rows_per_day} "
          f"rows/day, faults {plan.to_dict()}", file=sys.stderr, flush=True)
    serve(settings, host=args.host, port=args.port, faults=plan)
    return 0


def run_export(args: argparse.Namespace) -> int:
    if args.history:
        end = data.history_end_for(_start_date(args))
        summary = data.write_history(args.out, end_date=end, seed=args.seed, days=args.days,
                                     rows_per_day=args.rows_per_day, variant=args.variant)
    else:
        if args.format == "auto":  # as served: the window's first day in the old format
            old_format = args.date == _start_date(args)
        else:
            old_format = args.format == "old"
        summary = data.write_increment(args.out, args.date, seed=args.seed,
                                       rows_per_day=args.rows_per_day, old_format=old_format,
                                       variant=args.variant)
    print(f"{summary.path}: {summary.rows} rows ({summary.order_lines} order lines, "
          f"{summary.refund_lines} refunds), {summary.first_date}..{summary.last_date}, "
          f"{'old' if summary.old_format else 'new'} format, sha256 {summary.sha256}")
    return 0
