"""`make demo`: the pipeline doing its job on this machine, end to end.

Prepares the warehouse at SALES_DWH_URL (or a private PostgreSQL when none answers), starts the
sandbox report API and an SMTP sink on free local ports, runs the real Airflow DAGs in-process
(`dag.test`): `sales_mart_history` once, then `sales_mart_daily` for each day, and shows the
weekly retention as a table and a chart (PNG), partial weeks marked, then what was loaded, where
it is and what to try next. Everything it started is stopped on exit, also on Ctrl-C or failure.
Dates are fixed by default, so a second run gives the same numbers.

    python -m sales_mart.demo [--days 14] [--rows-per-day 1000] [--seed 42] [--first-day D]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import email
import email.policy
import html
import os
import re
import shlex
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2

from sales_mart import config, localstack, warehouse

DEMO_KEY = "local-demo-key"
RETENTION_QUERY = """
    select period_id, week_start, item_id, item_name, new_customers_count,
           returning_customers_count, new_customers_revenue, returning_customers_revenue,
           customers_refunded, refunded_amount, net_revenue, days_in_mart
    from mart.customer_retention order by period_id, item_id
"""
# What a BI login sees: the same view, as sales_bi (the demo's next step, run by psql).
BI_QUERY = ("select period_id, item_name, days_in_mart, new_customers_count, "
            "returning_customers_count, net_revenue "
            "from mart.customer_retention order by period_id, item_id limit 12")
FULL_WEEK = 7
PARTIAL_MARK = "◐"  # a week the mart holds fewer than 7 days of


class DemoFailed(RuntimeError):
    """An expected failure of the demo: said in one line, without a traceback."""


@dataclass(frozen=True)
class WeekItem:
    period_id: int
    week_start: dt.date
    item_id: int
    item_name: str
    new_customers: int
    returning_customers: int
    new_revenue: Decimal
    returning_revenue: Decimal
    refunds: int
    refunded_amount: Decimal
    net_revenue: Decimal
    days_in_mart: int

    @property
    def partial(self) -> bool:
        return self.days_in_mart < FULL_WEEK


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=int(os.environ.get("DAYS", 14)))
    parser.add_argument("--rows-per-day", type=int, default=int(os.environ.get("ROWS", 1000)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", 42)))
    parser.add_argument("--first-day", type=dt.date.fromisoformat,
                        default=dt.date.fromisoformat(os.environ.get("FIRST_DAY", "2024-03-04")),
                        help="first daily increment (default 2024-03-04, a Monday)")
    parser.add_argument("--out", type=Path, default=config.PROJECT_ROOT / "out")
    return parser.parse_args(argv)


@contextlib.contextmanager
def output_to(path: Path):
    """What this process writes to its stdout and stderr (Airflow's task logs, WARNING and up)
    goes to `path` meanwhile; the console keeps its own copy of the terminal (console_file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def console_file():
    """The terminal as it is now, still there while output_to() redirects stdout."""
    return os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)


def alert_reason(messages: list[bytes]) -> str | None:
    """The first alert e-mail of the run, as one line: task and reason."""
    if not messages:
        return None
    mail = email.message_from_bytes(messages[0], policy=email.policy.default)
    body = mail.get_body(preferencelist=("html", "plain"))
    text = body.get_content() if body is not None else ""
    reason = re.search(r"<pre>(.*?)</pre>", text, re.S)
    task = re.search(r"at task (\S+)", str(mail["subject"] or ""))
    return (f"task {task.group(1) if task else '?'}: "
            f"{' '.join(html.unescape(reason.group(1) if reason else text).split())}")


def run_dags(days: list[dt.date], history_day: dt.date, console, log: Path, smtp) -> int:
    """history once, then the daily DAG per day; returns how many data-quality checks passed.
    Airflow's own output goes to `log`; a failed run ends in one line naming the failed task
    and the reason its alert e-mail gave."""
    localstack.import_svcs_quietly()  # before Airflow imports it
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.common.sql.operators.sql import SQLCheckOperator
    from airflow.sdk import timezone
    from airflow.utils import db
    from airflow.utils.state import TaskInstanceState
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    db.initdb()
    bag = DagBag(dag_folder=str(config.PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise DemoFailed(f"DAG import errors: {bag.import_errors}")
    runs = [("sales_mart_history", history_day)] + [("sales_mart_daily", d) for d in days]
    checks_passed = 0
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")  # this demo's log only
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=False) as progress:
        bar = progress.add_task("starting", total=len(runs))
        for dag_id, day in runs:
            progress.update(bar, description=f"{day} · {dag_id}")
            dag = bag.get_dag(dag_id)
            alerts_before = len(smtp.messages)
            with output_to(log):
                run = dag.test(logical_date=timezone.datetime(day.year, day.month, day.day))
            instances = run.get_task_instances()
            if str(run.state) != "success":
                failed = sorted(ti.task_id for ti in instances
                                if ti.state == TaskInstanceState.FAILED)
                why = (alert_reason(smtp.messages[alerts_before:])
                       or f"failed tasks: {', '.join(failed) or 'none'}")
                raise DemoFailed(f"{dag_id} for {day} {run.state} at {why}; "
                                 f"Airflow's log: {shown(log)}")
            checks_passed += sum(
                1 for ti in instances
                if isinstance(dag.get_task(ti.task_id), SQLCheckOperator)
                and ti.state == TaskInstanceState.SUCCESS
            )
            progress.advance(bar)
    return checks_passed


def week_label(row: WeekItem) -> str:
    label = f"{row.period_id} ({row.week_start})"
    return f"{label} {PARTIAL_MARK}" if row.partial else label


def show_table(rows: list[WeekItem], console) -> None:
    from rich.table import Table

    table = Table(title="mart.customer_retention — weekly, per item", show_lines=False,
                  caption=f"{PARTIAL_MARK} partial week: the mart holds fewer than 7 of its days "
                          "(days), so its totals are not comparable with a full week's")
    for name in ("week", "item", "days", "new", "returning", "new revenue", "returning revenue",
                 "refunds", "refunded", "net revenue"):
        table.add_column(name, justify="left" if name in ("week", "item") else "right",
                         no_wrap=name in ("week", "item", "days"))
    for r in rows:
        table.add_row(
            week_label(r), r.item_name, f"{r.days_in_mart}/7", str(r.new_customers),
            str(r.returning_customers), f"{r.new_revenue:,.2f}", f"{r.returning_revenue:,.2f}",
            str(r.refunds), f"{r.refunded_amount:,.2f}", f"{r.net_revenue:,.2f}",
            style="yellow" if r.partial else None,
        )
    console.print(table)


def chart_figure(rows: list[WeekItem]):
    """Small multiples per item: weekly new vs returning revenue (stacked) and refunds; partial
    weeks are drawn pale and hatched, and their tick labels carry the mark and the days held."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    items = sorted({(r.item_id, r.item_name) for r in rows})
    weeks = sorted({r.period_id for r in rows})
    week_days = {r.period_id: r.days_in_mart for r in rows}
    partial = [week_days[w] < FULL_WEEK for w in weeks]
    labels = [f"{str(w)[-2:]}{PARTIAL_MARK}\n{week_days[w]}d" if p else str(w)[-2:]
              for w, p in zip(weeks, partial, strict=True)]
    cols = 4
    nrows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), sharex=True,
                             squeeze=False)
    by_key = {(r.period_id, r.item_id): r for r in rows}
    x = list(range(len(weeks)))
    series = (("new_revenue", "#4C78A8", "new customers"),
              ("returning_revenue", "#F58518", "returning customers"),
              ("refunded_amount", "#E45756", "refunds"))
    for ax, (item_id, item_name) in zip(axes.flat, items, strict=False):
        values = {name: [float(getattr(by_key[(w, item_id)], name)) if (w, item_id) in by_key
                         else 0.0 for w in weeks] for name, _, _ in series}
        values["refunded_amount"] = [-v for v in values["refunded_amount"]]
        bottoms = {"new_revenue": None, "returning_revenue": values["new_revenue"],
                   "refunded_amount": None}
        for name, color, _ in series:
            bars = ax.bar(x, values[name], bottom=bottoms[name], color=color)
            for bar, is_partial in zip(bars, partial, strict=True):
                if is_partial:
                    bar.set_alpha(0.45)
                    bar.set_hatch("//")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(item_name, fontsize=10)
        ax.set_xticks(x, labels, fontsize=8)
    for ax in list(axes.flat)[len(items):]:
        ax.axis("off")
    fig.suptitle("Weekly revenue by customer class, and refunds (ISO week)", fontsize=13)
    handles = [Patch(color=color, label=label) for _, color, label in series]
    if any(partial):
        handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//",
                             label=f"{PARTIAL_MARK} partial week: the mart holds only the days "
                                   "under its number (e.g. 2d), not a real dip"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles))
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return fig


def draw_chart(rows: list[WeekItem], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig = chart_figure(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class Loaded:
    """What this demo run put in the warehouse, from the load journal and the mart."""

    increments: int
    first_increment: dt.date | None
    last_increment: dt.date | None
    reports: int
    rows_read: int
    rows_loaded: int
    rows_duplicate: int
    rows_rejected: int
    mart_days: int
    first_day: dt.date | None
    last_day: dt.date | None
    facts: int
    net_revenue: Decimal
    last_file: str | None
    last_file_day: dt.date | None


def last_load_id(url: str) -> int:
    conn = warehouse.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("select coalesce(max(load_id), 0) from staging.load_log")
        found = cur.fetchone()[0]
    conn.close()
    return found


def read_results(url: str, after_load: int) -> tuple[list[WeekItem], Loaded]:
    conn = warehouse.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(RETENTION_QUERY)
        rows = [WeekItem(*r) for r in cur.fetchall()]
        cur.execute(
            """
            select count(*) filter (where source = 'increment'),
                   min(delivery_date) filter (where source = 'increment'),
                   max(delivery_date) filter (where source = 'increment'),
                   count(*) filter (where source = 'history'),
                   coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0),
                   coalesce(sum(rows_duplicate), 0), coalesce(sum(rows_rejected), 0)
            from staging.load_log where load_id > %s
            """,
            (after_load,),
        )
        journal = cur.fetchone()
        cur.execute(
            """
            select count(distinct c.date_actual), min(c.date_actual), max(c.date_actual),
                   count(*), coalesce(sum(f.payment_amount), 0)
            from mart.f_sales as f join mart.d_calendar as c on c.date_id = f.date_id
            """
        )
        mart = cur.fetchone()
        cur.execute(
            """
            select file_name, delivery_date from staging.load_log
            where load_id > %s and source = 'increment' order by load_id desc limit 1
            """,
            (after_load,),
        )
        last = cur.fetchone() or (None, None)
    conn.close()
    # The journal names the archived file by its URI (file:/… for the local archive);
    # `sales-mart load` takes the local path.
    last_file, last_day = last
    if last_file and last_file.startswith("file:"):
        last_file = urlsplit(last_file).path
    return rows, Loaded(*journal, *mart, last_file, last_day)


def shown(path: Path | str) -> str:
    """A path as short as it is still right from the current directory."""
    path = Path(path)
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


def show_next_steps(console, *, url: str, loaded: Loaded, checks: int, runs: int,
                    rows: list[WeekItem], chart: Path, private_server: bool) -> None:
    say = console.print
    increments = (f"{plural(loaded.increments, 'daily increment')} "
                  f"({loaded.first_increment}..{loaded.last_increment})"
                  if loaded.increments else "no daily increment")
    say(f"Loaded {plural(loaded.reports, 'full report')} and {increments}: "
        f"{loaded.rows_read:,} rows read, {loaded.rows_loaded:,} loaded, "
        f"{loaded.rows_duplicate:,} duplicate, {loaded.rows_rejected:,} rejected.", soft_wrap=True)
    say(f"The mart holds {loaded.mart_days} days ({loaded.first_day}..{loaded.last_day}): "
        f"{loaded.facts:,} order lines, net revenue {loaded.net_revenue:,.2f}.", soft_wrap=True)
    say(f"Data-quality gates passed: {checks} checks in {runs} DAG runs "
        f"({', '.join(warehouse.GATE_CHECKS + warehouse.FINAL_CHECKS)}).", soft_wrap=True)
    partial = sorted({(r.period_id, r.days_in_mart) for r in rows if r.partial})
    if partial:
        say(f"Partial weeks ({PARTIAL_MARK}): " + ", ".join(
            f"{week} holds {days} of 7 days" for week, days in partial) + ".", soft_wrap=True)
    say(f"Raw files:    {shown(localstack.VAR_DIR / 'landing')} (history/, increments/)",
        soft_wrap=True)
    say("Load journal: staging.load_log (rejected rows: staging.user_order_log_rejects)",
        soft_wrap=True)
    say(f"Chart:        {shown(chart)}", soft_wrap=True)

    env = "" if url == config.DEFAULT_DWH_URL else f"SALES_DWH_URL={shlex.quote(url)} "
    say("Next, try:")
    if private_server:
        say("  (the private PostgreSQL stopped with the demo; `make airflow` starts it again)")
    say(f"  psql {shlex.quote(url)} -c 'set role sales_bi' -c {shlex.quote(BI_QUERY)}",
        soft_wrap=True, markup=False)
    say(f"  {env}make airflow PORT=8080   # the Airflow UI with both DAGs", soft_wrap=True,
        markup=False)
    if loaded.last_file:
        say(f"  {env}.venv/bin/sales-mart load {shlex.quote(shown(loaded.last_file))} "
            f"--date {loaded.last_file_day}   # replays a raw file; safe to repeat",
            soft_wrap=True, markup=False)


def main(argv=None) -> int:
    from rich.console import Console

    args = parse_args(argv)
    console = Console(file=console_file(), width=None if sys.stdout.isatty() else 130)
    days = [args.first_day + dt.timedelta(days=n) for n in range(args.days)]
    history_day = days[0] - dt.timedelta(days=1)
    server = sandbox = smtp = None
    try:
        try:
            url, server = localstack.ensure_warehouse(config.dwh_url(), say=console.print)
            console.print(f"warehouse: {warehouse.redact_url(url)}")
            warehouse.upgrade(url)
            before = last_load_id(url)

            from sales_mart.sandbox.server import run_in_thread

            # Reports ready at the first poll: the demo shows the days, not the wait for them
            # (the tests and `make airflow` have the sandbox answer RUNNING first).
            sandbox = run_in_thread(
                api_key=DEMO_KEY, seed=args.seed, rows_per_day=args.rows_per_day,
                start_date=days[0], end_date=days[-1], running_polls=0,
                cache_dir=localstack.VAR_DIR / "sandbox-cache",
            )
            smtp = localstack.SmtpSink().start()
            console.print(f"sandbox report API: {sandbox.base_url} · "
                          f"SMTP sink: 127.0.0.1:{smtp.port}")
            home = localstack.VAR_DIR / "airflow"
            os.environ.update(localstack.airflow_environment(
                home=home, dwh_url=url, api_base_url=sandbox.base_url,
                api_key=DEMO_KEY, smtp_port=smtp.port,
                landing_dir=localstack.VAR_DIR / "landing", start_date=days[0].isoformat(),
            ))
            # dag.test logs every task at INFO; the progress bar says enough.
            os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
            # No scheduler here to notice a missed deadline, and dag.test cannot finish a run
            # that has one (see sales_mart.airflow.alerts.under_dags_test): the freshness alert is off.
            os.environ["SALES_MART_FRESHNESS_HOURS"] = "0"
            home.mkdir(parents=True, exist_ok=True)
            # A fresh Airflow metadata database per demo: its run history is shown nowhere, and
            # serialized versions of older DAG files left in it make dag.test warn
            # (SAWarning "Multiple rows returned with uselist=False").
            (home / "airflow.db").unlink(missing_ok=True)
            checks = run_dags(days, history_day, console, home / "demo.log", smtp)
            rows, loaded = read_results(url, before)
        except (localstack.NoWarehouse, DemoFailed, warehouse.LoadError,
                psycopg2.Error) as exc:
            console.print(f"[red]make demo:[/red] {one_line(exc)}", soft_wrap=True)
            return 1

        show_table(rows, console)
        chart = draw_chart(rows, args.out / "retention.png")
        show_next_steps(console, url=url, loaded=loaded, checks=checks, runs=len(days) + 1,
                        rows=rows, chart=chart, private_server=server is not None)
        if smtp.messages:
            console.print(f"[yellow]{len(smtp.messages)} alert e-mail(s) caught[/yellow]")
        return 0
    except KeyboardInterrupt:
        console.print("interrupted; stopping what the demo started")
        return 130
    finally:
        localstack.stop_all(sandbox, smtp, server)
        console.file.close()


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
