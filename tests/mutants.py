"""Mutation check of db/: each rule, gate and check broken on purpose, one at a time, must make
the warehouse tests fail. A mutant that survives is a rule no test watches.

    make mutants                      # every mutant (about 10 minutes)
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
