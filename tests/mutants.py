"""Mutation check of db/: each rule, gate and check broken on purpose, one at a time, must make
the warehouse tests fail. A mutant that survives is a rule no test watches.

    make mutants                      # every mutant (76; each runs the suite to its first
                                      # failure: 4-130 s on the 2-core project machine)
    .venv/bin/python tests/mutants.py reject_share_inclusive calendar_row_check
    MUTANT_TESTS=tests/test_replay_property.py .venv/bin/python tests/mutants.py failed_loads_eligible

Each mutant is applied to a copy of db/ (SALES_MART_DB_DIR points the tests at it); the working
tree is never touched. Not part of `make test`: it runs the suite once per mutant.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/test_load_integrity.py", "tests/test_bad_input.py", "tests/test_retention_rules.py",
    "tests/test_privileges.py", "tests/test_roles.py", "tests/test_atomicity.py",
    "tests/test_order_independence.py", "tests/test_replay_property.py",
    "tests/test_retention_incremental.py",
    # issue 16: behaviours the mutants below showed no test watched
    "tests/test_retention_counts.py", "tests/test_last_allowed_day.py",
    "tests/test_names_out_of_order.py", "tests/test_retention_weeks.py",
    "tests/test_eligibility.py", "tests/test_conflict_journal.py", "tests/test_gates.py",
]

# name: (file under db/, regular expression, replacement) -- what the change breaks, in words.
MUTANTS = {
    "two_decimal_rule": ("procedures/010_staging_value_problems.sql",
                         r"when btrim\(p_value\)::numeric <> round\(btrim\(p_value\)::numeric, 2\)",
                         "when false"),
    "status_case": ("procedures/010_staging_value_problems.sql",
                    r"when lower\(btrim\(p_value\)\) not in", "when btrim(p_value) not in"),
    "calendar_row_check": ("procedures/030_staging_ingest_load.sql",
                           r"when not v_calendar @> t\.ts::date then", "when false then"),
    "future_row_check": ("procedures/030_staging_ingest_load.sql",
                         r"when t\.ts::date > v_latest then", "when false then"),
    "first_duplicate_line_kept": ("procedures/030_staging_ingest_load.sql",
                                  r"max\(l\.line_no\) as line_no",
                                  "min(l.line_no) as line_no"),
    "first_conflicting_line_wins": ("procedures/030_staging_ingest_load.sql",
                                    r"order by v\.date_time desc, v\.line_no desc",
                                    "order by v.date_time desc, v.line_no asc"),
    "conflicts_counted_as_duplicates": ("procedures/030_staging_ingest_load.sql",
                                        r"where v\.conflicting;", "where false;"),
    "delivery_date_calendar": ("procedures/020_staging_start_load.sql",
                               r"when not exists \(select from mart\.d_calendar as c where "
                               r"c\.date_actual = p_delivery_date\)", "when false"),
    "delivery_date_future": ("procedures/020_staging_start_load.sql",
                             r"when p_delivery_date > current_date \+ 1", "when false"),
    "failed_load_keeps_staged_rows": ("procedures/020_staging_start_load.sql",
                                      r"delete from staging\.user_order_log as s\n", "select\n"
                                      "from staging.user_order_log as s\n"),
    "gate_two_three_customers_pass": ("procedures/025_staging_checks.sql",
                                      r"count\(distinct s\.customer_id\) > 3,",
                                      "count(distinct s.customer_id) >= 3,"),
    "gate_one_always_passes": ("procedures/025_staging_checks.sql",
                               r"coalesce\(l\.rows_loaded, 0\) > 0,", "true,"),
    "dated_on_delivery_day_always_passes": ("procedures/025_staging_checks.sql",
                                            r"l\.source = 'history'\n\s+or count",
                                            "true or count"),
    "rows_reconcile_always_passes": ("procedures/025_staging_checks.sql",
                                     r"coalesce\(\n\s+l\.rows_read\n.*?false\n\s+\),", "true,"),
    "staged_rows_valid_always_passes": ("procedures/025_staging_checks.sql",
                                        r"count\(s\.uniq_id\) filter \(where b\.broken\) = 0,",
                                        "true,"),
    "reject_share_inclusive": ("procedures/025_staging_checks.sql",
                               r"coalesce\(l\.rows_rejected, 0\) <= p_max_reject_share",
                               "coalesce(l.rows_rejected, 0) < p_max_reject_share"),
    "net_revenue_reconciles_always_passes": (
        "procedures/025_staging_checks.sql",
        r"c\.mismatched = 0 and c\.staged_net = c\.mart_net and c\.staged_n = c\.mart_n,",
        "true,"),
    "publish_skips_gates": ("procedures/040_mart_publish.sql",
                            r"where not g\.passed\n", "where false\n"),
    "failed_loads_eligible": ("procedures/040_mart_publish.sql",
                              r"        join staging\.published_delivery as p\n\s+on p\.source = "
                              r"s\.source and p\.delivery_date = s\.delivery_date and p\.load_id "
                              r"= s\.load_id\n        where not a\.in_load",
                              "        where not a.in_load"),
    "report_beats_increment": ("procedures/040_mart_publish.sql",
                               r"order by c\.uniq_id, c\.delivery_date desc, c\.source_rank desc",
                               "order by c.uniq_id, c.delivery_date desc, c.source_rank asc"),
    # The fast paths of the publish: rows of later deliveries, members the load lacks.
    "later_deliveries_ignored": ("procedures/040_mart_publish.sql",
                                 r"create temp table publish_later on commit drop as\n"
                                 r"    select p\.source, p\.delivery_date, p\.load_id\n"
                                 r"    from staging\.published_delivery as p\n"
                                 r"    where p\.load_id <> p_load_id\n",
                                 "create temp table publish_later on commit drop as\n"
                                 "    select p.source, p.delivery_date, p.load_id\n"
                                 "    from staging.published_delivery as p\n"
                                 "    where false\n"),
    "uncovered_members_not_looked_up": ("procedures/040_mart_publish.sql",
                                        r"if exists \(select from merge_uncovered\) then",
                                        "if false then"),
    "reconciliation_ignores_later_rows": ("procedures/025_staging_checks.sql",
                                          r"where o\.load_id = any\(array\(select d\.load_id "
                                          r"from later_delivery as d\)\)",
                                          "where false"),
    "redelivery_keeps_old_lines": ("procedures/040_mart_publish.sql",
                                   r"and not exists \(select from merge_winner as w "
                                   r"where w\.uniq_id = a\.uniq_id\);",
                                   "and false;"),
    "refresh_search_path_unpinned": ("procedures/050_mart_refresh_retention.sql",
                                     r"security definer\nset search_path = pg_catalog, pg_temp\n",
                                     "security definer\n"),
    "retention_old_week_kept": ("procedures/040_mart_publish.sql",
                                r"\(values \(f\.date_time::date\), \(w\.date_time::date\)\)",
                                "(values (w.date_time::date), (w.date_time::date))"),
    "retention_names_stale": ("procedures/050_mart_refresh_retention.sql",
                              r"-- A renamed item or city.*?is distinct from \(i\.item_name, "
                              r"c\.city_name\);\n", ""),
    "public_may_connect": ("procedures/900_grants.sql",
                           r"execute format\('revoke all on database %I from public', "
                           r"current_database\(\)\);", "null;"),
    "public_runs_routines": ("procedures/900_grants.sql",
                             r"revoke all on all routines in schema staging, mart from public;",
                             "grant execute on all routines in schema staging, mart to public;"),

    # --- issue 16, "Behaviours no test watches", and the hunt that followed -----------------
    # Retention rules: counts of distinct customers, not of order lines.
    # refunded_customer_count (by item) counts refund lines, not distinct customers
    "refunded_customers_counted_as_lines": ("views/customer_retention_rows.sql",
                                            r"count\(distinct o\.customer_id\) filter \(\n"
                                            r"(\s+where o\.status = 'refunded'\n)",
                                            r"count(o.customer_id) filter (\n\1"),
    # the same in the by-city table
    "refunded_customers_by_city_counted_as_lines": ("views/customer_retention_by_city_rows.sql",
                                                    r"count\(distinct o\.customer_id\) filter \(\n"
                                                    r"(\s+where o\.status = 'refunded'\n)",
                                                    r"count(o.customer_id) filter (\n\1"),
    # returning_customers_count (by item) counts shipped lines of returning customers
    "returning_customers_counted_as_lines": ("views/customer_retention_rows.sql",
                                             r"count\(distinct o\.customer_id\) filter \(\n"
                                             r"(\s+where o\.status = 'shipped' and "
                                             r"o\.customer_class = 'returning'\n)",
                                             r"count(o.customer_id) filter (\n\1"),
    # the same in the by-city table
    "returning_customers_by_city_counted_as_lines": (
        "views/customer_retention_by_city_rows.sql",
        r"count\(distinct o\.customer_id\) filter \(\n"
        r"(\s+where o\.status = 'shipped' and o\.customer_class = 'returning'\n)",
        r"count(o.customer_id) filter (\n\1"),
    # Tomorrow is the last day allowed, for a delivery date and for a row's order day.
    # a delivery date of tomorrow (the last day allowed) is refused
    "tomorrow_delivery_refused": ("procedures/020_staging_start_load.sql",
                                  r"when p_delivery_date > current_date \+ 1",
                                  "when p_delivery_date >= current_date + 1"),
    # a delivery date of the day after tomorrow is accepted
    "day_after_tomorrow_delivery_accepted": ("procedures/020_staging_start_load.sql",
                                             r"when p_delivery_date > current_date \+ 1",
                                             "when p_delivery_date > current_date + 2"),
    # rows dated tomorrow are rejected
    "rows_dated_tomorrow_rejected": ("procedures/030_staging_ingest_load.sql",
                                     r"when t\.ts::date > v_latest then",
                                     "when t.ts::date >= v_latest then"),
    # rows dated the day after tomorrow are loaded
    "rows_dated_day_after_tomorrow_accepted": ("procedures/030_staging_ingest_load.sql",
                                               r"v_latest date := current_date \+ 1;",
                                               "v_latest date := current_date + 2;"),
    # Dimension names: the latest eligible row (latest delivery day, an increment before the
    # full report, the latest order time), whatever order the days were loaded in.
    # an item takes the name of its earliest delivery, not its latest
    "items_named_by_earliest_delivery": ("procedures/040_mart_publish.sql",
                                         r"order by n\.item_id, n\.delivery_date desc",
                                         "order by n.item_id, n.delivery_date asc"),
    # a city takes the name of its earliest delivery, not its latest
    "cities_named_by_earliest_delivery": ("procedures/040_mart_publish.sql",
                                          r"order by n\.city_id, n\.delivery_date desc",
                                          "order by n.city_id, n.delivery_date asc"),
    # an earlier day loaded after a later one names members from its own rows
    "names_from_later_deliveries_ignored": ("procedures/040_mart_publish.sql",
                                            r"(join staging\.user_order_log as s\n\s+on s\.load_id "
                                            r"= l\.load_id and s\.source = l\.source and "
                                            r"s\.delivery_date = l\.delivery_date);",
                                            r"\1 and false;"),
    # an item takes the full report's name over the same day's increment
    "item_names_report_beats_increment": ("procedures/040_mart_publish.sql",
                                          r"order by n\.item_id, n\.delivery_date desc, "
                                          r"n\.source_rank desc",
                                          "order by n.item_id, n.delivery_date desc, "
                                          "n.source_rank asc"),
    # a city takes the full report's name over the same day's increment
    "city_names_report_beats_increment": ("procedures/040_mart_publish.sql",
                                          r"order by n\.city_id, n\.delivery_date desc, "
                                          r"n\.source_rank desc",
                                          "order by n.city_id, n.delivery_date desc, "
                                          "n.source_rank asc"),
    # within a delivery, a customer is named by its earliest order
    "customer_names_by_earliest_order_time": ("procedures/040_mart_publish.sql",
                                              r"(order by n\.customer_id, n\.delivery_date desc, "
                                              r"n\.source_rank desc, )n\.date_time desc",
                                              r"\1n.date_time asc"),
    # within a delivery, an item is named by its earliest order
    "item_names_by_earliest_order_time": ("procedures/040_mart_publish.sql",
                                          r"(order by n\.item_id, n\.delivery_date desc, "
                                          r"n\.source_rank desc, )n\.date_time desc",
                                          r"\1n.date_time asc"),
    # within a delivery, a city is named by its earliest order
    "city_names_by_earliest_order_time": ("procedures/040_mart_publish.sql",
                                          r"(order by n\.city_id, n\.delivery_date desc, "
                                          r"n\.source_rank desc, )n\.date_time desc",
                                          r"\1n.date_time asc"),
    # a load ingested but never published (same day as a published one) names members
    "names_from_unpublished_loads": ("procedures/040_mart_publish.sql",
                                     r"(on p\.source = s\.source and p\.delivery_date = "
                                     r"s\.delivery_date)\n\s+and p\.load_id = s\.load_id",
                                     r"\1"),
    # an item a re-delivery drops keeps the dropped delivery's name
    "dropped_item_keeps_redelivered_name": ("procedures/040_mart_publish.sql",
                                            r"select m\.id from merge_old_dimension as m "
                                            r"where m\.kind = 'item'",
                                            "select m.id from merge_old_dimension as m "
                                            "where m.kind = 'no item'"),
    # a city a re-delivery drops keeps the dropped delivery's name
    "dropped_city_keeps_redelivered_name": ("procedures/040_mart_publish.sql",
                                            r"select m\.id from merge_old_dimension as m "
                                            r"where m\.kind = 'city'",
                                            "select m.id from merge_old_dimension as m "
                                            "where m.kind = 'no city'"),
    # Members left without sales go.
    # an item a re-delivery leaves without sales stays in d_item
    "item_left_without_sales_kept": ("procedures/040_mart_publish.sql",
                                     r"where m\.kind = 'item' and d\.item_id = m\.id",
                                     "where false and d.item_id = m.id"),
    # a city a re-delivery leaves without sales stays in d_city
    "city_left_without_sales_kept": ("procedures/040_mart_publish.sql",
                                     r"where m\.kind = 'city' and d\.city_id = m\.id",
                                     "where false and d.city_id = m.id"),
    # Eligibility: which published deliveries still hold a fact a re-delivery drops.
    # a fact a re-delivery drops leaves the mart although another published delivery holds it
    "dropped_fact_not_looked_up_elsewhere": ("procedures/040_mart_publish.sql",
                                             r"where not a\.in_load\n    \) as c",
                                             "where false\n    ) as c"),
    # a report loaded after the increment of its first day misses it (the publish fails)
    "later_increment_same_day_ignored": ("procedures/040_mart_publish.sql",
                                         r"and \(p\.delivery_date, case p\.source when "
                                         r"'increment' then 2 else 1 end\) > \(",
                                         "and (p.delivery_date, 1) > ("),
    # a report another report re-delivers in part is journalled superseded while still published
    "partly_replaced_report_superseded": ("procedures/040_mart_publish.sql",
                                          r"(where l\.load_id in \(select r\.load_id from "
                                          r"publish_replaced as r\))\n\s+and not exists "
                                          r"\(select from staging\.published_delivery as p "
                                          r"where p\.load_id = l\.load_id\);",
                                          r"\1;"),
    # replacing one day of a report drops the report's staged rows of its other days
    "replaced_day_drops_the_loads_other_days": ("procedures/040_mart_publish.sql",
                                                r"where s\.load_id = r\.load_id and s\.source = "
                                                r"r\.source and s\.delivery_date = "
                                                r"r\.delivery_date;",
                                                "where s.load_id = r.load_id;"),
    # an increment replaces (drops the staged rows of) the full report's delivery of its day
    "increment_replaces_the_reports_day": ("procedures/040_mart_publish.sql",
                                           r"join publish_slice as d on d\.source = p\.source "
                                           r"and d\.delivery_date = p\.delivery_date;",
                                           "join publish_slice as d on d.delivery_date = "
                                           "p.delivery_date;"),
    # merge_increment publishes the oldest waiting increment of the day
    "merge_increment_publishes_the_oldest": ("procedures/040_mart_publish.sql",
                                             r"select max\(l\.load_id\) into v_load_id",
                                             "select min(l.load_id) into v_load_id"),
    # merge_increment publishes a full report waiting for the day
    "merge_increment_publishes_a_report": ("procedures/040_mart_publish.sql",
                                           r"where l\.source = 'increment' and l\.delivery_date "
                                           r"= p_date and l\.status = 'ingested';",
                                           "where l.delivery_date = p_date "
                                           "and l.status = 'ingested';"),
    # merge_increment on an already published day raises instead of leaving it
    "merge_increment_fails_on_a_published_day": ("procedures/040_mart_publish.sql",
                                                 r"elsif exists \(",
                                                 "elsif false and exists ("),
    # merge_increment takes a published full report for the day's increment
    "merge_increment_takes_a_report_for_the_increment": (
        "procedures/040_mart_publish.sql",
        r"where p\.source = 'increment' and p\.delivery_date = p_date",
        "where p.delivery_date = p_date"),
    # publish_load goes on with a failed or superseded load instead of naming its status
    "publish_takes_failed_and_superseded_loads": ("procedures/040_mart_publish.sql",
                                                  r"if v_load\.status <> 'ingested' then",
                                                  "if v_load.status = 'copying' then"),
    # Weeks to refresh: a re-delivered fact that changed only its customer, item or city.
    # a fact re-delivered with only its customer changed does not refresh its week
    "weeks_ignore_a_customer_change": ("procedures/040_mart_publish.sql",
                                       r"where \(f\.date_time, f\.customer_id, ",
                                       "where (f.date_time, w.customer_id, "),
    # a fact re-delivered with only its item changed does not refresh its week
    "weeks_ignore_an_item_change": ("procedures/040_mart_publish.sql",
                                    r"where \(f\.date_time, f\.customer_id, f\.item_id, ",
                                    "where (f.date_time, f.customer_id, w.item_id, "),
    # a fact re-delivered with only its city changed does not refresh its week
    "weeks_ignore_a_city_change": ("procedures/040_mart_publish.sql",
                                   r"where \(f\.date_time, f\.customer_id, f\.item_id, "
                                   r"f\.city_id, ",
                                   "where (f.date_time, f.customer_id, f.item_id, w.city_id, "),
    # Renames reach the weeks the publish does not recompute.
    # a city renamed without its item keeps its old name in weeks not recomputed
    "city_renamed_alone_not_propagated": ("procedures/050_mart_refresh_retention.sql",
                                          r"and \(r\.item_name, r\.city_name\) is distinct from "
                                          r"\(i\.item_name, c\.city_name\);",
                                          "and r.item_name is distinct from i.item_name;"),
    # an item renamed without its city keeps its old name in by-city weeks not recomputed
    "item_renamed_alone_not_propagated_by_city": ("procedures/050_mart_refresh_retention.sql",
                                                  r"and \(r\.item_name, r\.city_name\) is "
                                                  r"distinct from \(i\.item_name, "
                                                  r"c\.city_name\);",
                                                  "and r.city_name is distinct from c.city_name;"),
    # a renamed item keeps its old name in the by-item weeks not recomputed
    "item_rename_not_propagated": ("procedures/050_mart_refresh_retention.sql",
                                   r"where i\.item_id = r\.item_id and r\.item_name is distinct "
                                   r"from i\.item_name;",
                                   "where false;"),
    # The conflict journal and the rejects: every line, with its own number.
    # a losing line repeated in the file is journalled as a conflict once, the rest as duplicates
    "repeated_conflicting_line_listed_once": ("procedures/030_staging_ingest_load.sql",
                                              r"unnest\(v\.line_nos\) as line \(line_no\)",
                                              "unnest(array[v.line_no]) as line (line_no)"),
    # a bad line repeated in the file is rejected once, the rest counted as duplicates
    "repeated_bad_line_rejected_once": ("procedures/030_staging_ingest_load.sql",
                                        r"unnest\(r\.line_nos\) as line \(line_no\)",
                                        "unnest(array[r.line_no]) as line (line_no)"),
    # a report's rows of one uniq_id on two days are a conflict, the earlier day lost
    "report_days_of_one_order_conflict": ("procedures/030_staging_ingest_load.sql",
                                          r"partition by v\.delivery_date, v\.uniq_id order by",
                                          "partition by v.uniq_id order by"),
    # The gates (025), each seen failing on what it exists to catch.
    # gate 2 counts lines instead of distinct customers
    "gate_two_counts_lines": ("procedures/025_staging_checks.sql",
                              r"count\(distinct s\.customer_id\) > 3,",
                              "count(s.customer_id) > 3,"),
    # an increment with some rows dated another day passes
    "partly_misdated_increment_passes": ("procedures/025_staging_checks.sql",
                                         r"or count\(s\.uniq_id\) filter \(where "
                                         r"s\.date_time::date <> l\.delivery_date\) = 0,",
                                         "or count(s.uniq_id) filter (where "
                                         "s.date_time::date = l.delivery_date) > 0,"),
    # the reconciliation passes facts that differ row by row when totals agree
    "reconciliation_compares_totals_only": ("procedures/025_staging_checks.sql",
                                            r"c\.mismatched = 0 and c\.staged_net",
                                            "c.staged_net"),
    # staged_rows_valid passes a negative amount
    "staged_rows_valid_ignores_negative_amounts": ("procedures/025_staging_checks.sql",
                                                   r"or s\.quantity < 1 or "
                                                   r"s\.payment_amount < 0",
                                                   "or s.quantity < 1"),
    # staged_rows_valid passes an unknown status
    "staged_rows_valid_ignores_status": ("procedures/025_staging_checks.sql",
                                         r"or s\.status not in \('shipped', 'refunded'\)\n",
                                         "\n"),
    # rows_reconcile passes when conflict rows are missing from their table
    "rows_reconcile_ignores_conflicts_table": ("procedures/025_staging_checks.sql",
                                               r"and l\.rows_conflicting = \(",
                                               "and l.rows_conflicting >= ("),
    # rows_reconcile passes when reject rows are missing from their table
    "rows_reconcile_ignores_rejects_table": ("procedures/025_staging_checks.sql",
                                             r"and l\.rows_rejected = \(",
                                             "and l.rows_rejected >= ("),
}


def mutate(db_dir: Path, name: str) -> None:
    relative, pattern, replacement = MUTANTS[name]
    path = db_dir / relative
    text = path.read_text()
    mutated, count = re.subn(pattern, replacement, text, count=1, flags=re.DOTALL)
    if count != 1:
        raise SystemExit(f"mutant {name}: pattern not found in db/{relative}; update tests/mutants.py")
    path.write_text(mutated)


def run(name: str) -> tuple[bool, str, float]:
    """True when the tests caught the mutant (failed); the first failing test; seconds."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as tmp:
        db_dir = Path(tmp) / "db"
        shutil.copytree(REPO / "db", db_dir)
        mutate(db_dir, name)
        env = dict(os.environ, SALES_MART_DB_DIR=str(db_dir))
        # A mutant that does not even install is no test of the tests: say so.
        scratch = f"postgresql://postgres@127.0.0.1:5432/sales_mart_mutant_{os.getpid()}"
        installed = subprocess.run(
            [sys.executable, "-c", "import sys; from sales_mart import warehouse; "
             "warehouse.upgrade(sys.argv[1])", scratch],
            env=env, capture_output=True, text=True, check=False)
        subprocess.run(["psql", scratch.rsplit("/", 1)[0] + "/postgres", "-qc",
                        f"drop database if exists {scratch.rsplit('/', 1)[1]} with (force)"],
                       capture_output=True, check=False)
        if installed.returncode != 0:
            raise SystemExit(f"mutant {name} does not install: {installed.stderr[-500:]}")
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             *os.environ.get("MUTANT_TESTS", " ".join(TESTS)).split()],
            cwd=REPO, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in done.stdout.splitlines()
              if line.startswith(("FAILED ", "ERROR "))]
    return done.returncode != 0, (failed[0] if failed else "-"), elapsed


def main(names: list[str]) -> int:
    names = names or list(MUTANTS)
    survivors = []
    print(f"{'mutant':40} {'caught':7} first failing test")
    for name in names:
        caught, first, elapsed = run(name)
        print(f"{name:40} {'yes' if caught else 'NO':7} {first}  ({elapsed:.0f} s)", flush=True)
        if not caught:
            survivors.append(name)
    print(f"{len(names) - len(survivors)} of {len(names)} mutants caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
