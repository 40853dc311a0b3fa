"""`make demo`: the pipeline doing its job on this machine, end to end.

Prepares the warehouse at SALES_DWH_URL (or a private PostgreSQL when none answers), starts the
sandbox report API and an SMTP sink on free local ports, runs the real Airflow DAGs in-process
(`dag.test`): `sales_mart_history` once, then `sales_mart_daily` for each day, and shows the
weekly retention as a table and a chart (PNG). Everything it started is stopped on exit, also
on Ctrl-C or failure. Dates are fixed by default, so a second run gives the same numbers.

    python -m sales_mart.demo [--days 14] [--rows-per-day 1000] [--seed 42] [--first-day D]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from decimal import Decimal
from pathlib import Path

from sales_mart import config, localstack, warehouse

DEMO_KEY = "local-demo-key"
RETENTION_QUERY = """
    select period_id, week_start, item_id, item_name, new_customers_count,
           returning_customers_count, new_customers_revenue, returning_customers_revenue,
           customers_refunded, refunded_amount, net_revenue
    from mart.customer_retention order by period_id, item_id
"""


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


def run_dags(days: list[dt.date], history_day: dt.date, console) -> list[tuple[str, str]]:
    """history once, then the daily DAG per day; returns (label, state) per run."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone
    from airflow.utils import db
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    db.initdb()
    bag = DagBag(dag_folder=str(config.PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    runs = [("sales_mart_history", history_day)] + [("sales_mart_daily", d) for d in days]
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=False) as progress:
        bar = progress.add_task("starting", total=len(runs))
        for dag_id, day in runs:
            progress.update(bar, description=f"{day} · {dag_id}")
            dag = bag.get_dag(dag_id)
            run = dag.test(logical_date=timezone.datetime(day.year, day.month, day.day))
            state = str(run.state)
            results.append((f"{day} {dag_id}", state))
            progress.advance(bar)
            if state != "success":
                raise RuntimeError(f"{dag_id} for {day} ended {state}; see the log above")
    return results


def show_table(rows, console) -> None:
    from rich.table import Table

    table = Table(title="mart.customer_retention — weekly, per item", show_lines=False)
    for name in ("week", "item", "new", "returning", "new revenue", "returning revenue",
                 "refunds", "refunded", "net revenue"):
        table.add_column(name, justify="left" if name in ("week", "item") else "right")
    for r in rows:
        table.add_row(f"{r[0]} ({r[1]})", r[3], str(r[4]), str(r[5]), f"{r[6]:,.2f}",
                      f"{r[7]:,.2f}", str(r[8]), f"{r[9]:,.2f}", f"{r[10]:,.2f}")
    console.print(table)


def draw_chart(rows, path: Path) -> Path:
    """Small multiples per item: weekly new vs returning revenue (stacked) and refunds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted({(r[2], r[3]) for r in rows})
    weeks = sorted({r[0] for r in rows})
    cols = 4
    nrows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), sharex=True,
                             squeeze=False)
    by_key = {(r[0], r[2]): r for r in rows}
    x = list(range(len(weeks)))
    for ax, (item_id, item_name) in zip(axes.flat, items, strict=False):
        new = [float(by_key.get((w, item_id), (0,) * 11)[6] or 0) for w in weeks]
        ret = [float(by_key.get((w, item_id), (0,) * 11)[7] or 0) for w in weeks]
        ref = [-float(by_key.get((w, item_id), (0,) * 11)[9] or 0) for w in weeks]
        ax.bar(x, new, color="#4C78A8", label="new customers")
        ax.bar(x, ret, bottom=new, color="#F58518", label="returning customers")
        ax.bar(x, ref, color="#E45756", label="refunds")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(item_name, fontsize=10)
        ax.set_xticks(x, [str(w)[-2:] for w in weeks], fontsize=8)
    for ax in list(axes.flat)[len(items):]:
        ax.axis("off")
    fig.suptitle("Weekly revenue by customer class, and refunds (ISO week)", fontsize=13)
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    from rich.console import Console

    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 130)
    days = [args.first_day + dt.timedelta(days=n) for n in range(args.days)]
    history_day = days[0] - dt.timedelta(days=1)
    server = sandbox = smtp = None
    try:
        try:
            url, server = localstack.ensure_warehouse(config.dwh_url(), say=console.print)
        except localstack.NoWarehouse as exc:
            console.print(f"[red]sales_mart demo:[/red] {exc}")
            return 1
        console.print(f"warehouse: {warehouse.redact_url(url)}")
        warehouse.upgrade(url)

        from sales_mart.sandbox.server import run_in_thread

        sandbox = run_in_thread(
            api_key=DEMO_KEY, seed=args.seed, rows_per_day=args.rows_per_day,
            start_date=days[0], end_date=days[-1], running_polls=1,
            cache_dir=localstack.VAR_DIR / "sandbox-cache",
        )
        smtp = localstack.SmtpSink().start()
        console.print(f"sandbox report API: {sandbox.base_url} · SMTP sink: 127.0.0.1:{smtp.port}")
        os.environ.update(localstack.airflow_environment(
            home=localstack.VAR_DIR / "airflow", dwh_url=url, api_base_url=sandbox.base_url,
            api_key=DEMO_KEY, smtp_port=smtp.port, landing_dir=localstack.VAR_DIR / "landing",
            start_date=days[0].isoformat(),
        ))
        # dag.test logs every task at INFO; the progress bar says enough.
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        (localstack.VAR_DIR / "airflow").mkdir(parents=True, exist_ok=True)
        run_dags(days, history_day, console)

        conn = warehouse.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute(RETENTION_QUERY)
            rows = cur.fetchall()
            cur.execute("select count(*), sum(payment_amount) from mart.f_sales")
            facts, net = cur.fetchone()
        conn.close()
        show_table(rows, console)
        chart = draw_chart(rows, args.out / "retention.png")
        console.print(f"{facts:,} order lines, net revenue {Decimal(net):,.2f}; "
                      f"raw files in {localstack.VAR_DIR / 'landing'}")
        console.print(f"chart: {chart}")
        if smtp.messages:
            console.print(f"[yellow]{len(smtp.messages)} alert e-mail(s) caught[/yellow]")
        return 0
    except KeyboardInterrupt:
        console.print("interrupted; stopping what the demo started")
        return 130
    finally:
        localstack.stop_all(sandbox, smtp, server)


if __name__ == "__main__":
    sys.exit(main())
