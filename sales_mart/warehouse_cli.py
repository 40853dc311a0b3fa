"""``sales-mart db upgrade`` and ``sales-mart load`` (SPEC §7)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

import psycopg2

from sales_mart import config, warehouse


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="warehouse schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = db_sub.add_parser(
        "upgrade",
        help="apply migrations, procedures and views to SALES_DWH_URL (safe to repeat)",
    )
    up.set_defaults(func=cmd_db_upgrade)
    login = db_sub.add_parser(
        "login",
        help="create or reset a login holding only sales_loader (or sales_bi); run as the owner",
        description="Creates the login NAME (or resets it) with the password in the environment "
        "variable SALES_DWH_LOGIN_PASSWORD, as a member of exactly one group role and nothing "
        "else. The pipeline connects as such a login; migrations run as the owner.",
    )
    login.add_argument("name", help="the login, e.g. sales_pipeline")
    login.add_argument("--role", choices=warehouse.GROUP_ROLES, default="sales_loader",
                       help="its one group role (default %(default)s)")
    login.set_defaults(func=cmd_db_login)

    load = sub.add_parser(
        "load",
        help="load one user_order_log file: COPY -> staging -> gates -> publish (merge + refresh)",
        description="Loads a user_order_log file through the same path and data-quality gates "
        "the DAG uses. Exit status 0 only when the data landed; otherwise the mart is unchanged.",
    )
    load.add_argument("file", help="a user_order_log(_inc) CSV file")
    which = load.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=date.fromisoformat, help="the increment's day, YYYY-MM-DD")
    which.add_argument("--history", action="store_true", help="the file is a full report")
    load.add_argument(
        "--max-reject-share",
        type=_reject_share,
        default=warehouse.DEFAULT_MAX_REJECT_SHARE,
        help="largest share of rejected rows that still loads, 0 to 1 (default %(default)s)",
    )
    load.set_defaults(func=cmd_load)


def _reject_share(value: str) -> float:
    try:
        return warehouse.reject_share(value)
    except warehouse.LoadError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    url = config.dwh_url()
    try:
        report = warehouse.upgrade(url)
    except warehouse.LoadError as exc:
        print(f"sales-mart: {exc}", file=sys.stderr)
        return 1
    where = warehouse.redact_url(url)
    if report.database_created:
        print(f"created database at {where}")
    print(f"migrations applied to {where}")
    print(f"procedures re-applied: {len(report.procedures_applied)}")
    print(f"views rebuilt: {', '.join(report.views_rebuilt) or 'none'}")
    print(f"views unchanged: {', '.join(report.views_unchanged) or 'none'}")
    return 0


def cmd_db_login(args: argparse.Namespace) -> int:
    url = config.dwh_url()
    try:
        created = warehouse.ensure_login(url, args.name, args.role,
                                         os.environ.get("SALES_DWH_LOGIN_PASSWORD", ""))
    except (warehouse.LoadError, psycopg2.Error) as exc:
        print(f"sales-mart: {str(exc).strip()}", file=sys.stderr)
        return 1
    print(f"login {args.name} {'created' if created else 'reset'}: a member of {args.role} only")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    try:
        summary = warehouse.load_file(
            args.file,
            delivery_date=args.date,
            history=args.history,
            max_reject_share=args.max_reject_share,
        )
    except warehouse.LoadError as exc:
        print(f"sales-mart: load refused, the mart is unchanged.\n{exc}", file=sys.stderr)
        return 1
    print(summary.describe())
    for check in summary.checks:
        print(f"  check {check.name}: passed ({check.detail})")
    print("published: merged into mart.f_sales, retention views refreshed")
    return 0
