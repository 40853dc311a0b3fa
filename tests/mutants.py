"""Mutation check of db/: each rule, gate and check broken on purpose, one at a time, must make
the warehouse tests fail. A mutant that survives is a rule no test watches.

    make mutants                      # every mutant (82; each runs the suite to its first
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
    # issues 15 and 16: the rewrite's attacks, files and properties; behaviours no test watched
    "tests/test_retention_counts.py", "tests/test_last_allowed_day.py",
    "tests/test_names_out_of_order.py", "tests/test_retention_weeks.py",
    "tests/test_eligibility.py", "tests/test_conflict_journal.py", "tests/test_gates.py",
    "tests/test_referential_integrity.py", "tests/test_only_the_publish_writes.py",
    "tests/test_harmless_and_hostile_files.py", "tests/test_value_rules_fast_path.py",
    "tests/test_retention_delta_property.py",
]

# name: (file under db/, regular expression, replacement) -- what the change breaks, in words.
# Ported to the rewritten db/ of issues 15 and 16 (the one-statement ingest, the publish from the
# load's rows, retention kept from the day's change, set-based integrity, the owner's routines);
# the names of the mutants of earlier issues are kept where the behaviour is the same.
INGEST = "procedures/030_staging_ingest_load.sql"
VALUE_RULES = "procedures/010_staging_value_problems.sql"
START_LOAD = "procedures/020_staging_start_load.sql"
CHECKS = "procedures/025_staging_checks.sql"
PUBLISH = "procedures/040_mart_publish.sql"
MEMBER_NAMES = "procedures/038_mart_member_names.sql"
CONTESTED = "procedures/039_mart_contested_facts.sql"
RETENTION_DELTA = "procedures/050_mart_retention_delta.sql"
REBUILD = "procedures/051_mart_refresh_retention.sql"
GRANTS = "procedures/900_grants.sql"
INTEGRITY = "migrations/20261206180002_check_fact_members_set_based.sql"
OWNER = "migrations/20261206180001_mart_owner_writes_the_mart.sql"
MUTANTS = {
    # --- value rules (010) -------------------------------------------------------------------
    # an amount with three decimals is accepted
    "two_decimal_rule": (VALUE_RULES, r"when length\(rtrim\(split_part\(btrim\(p_value\), '\.', 2\), '0'\)\) > 2",
                         "when false"),
    # status read only in lower case
    "status_case": (VALUE_RULES, r"when lower\(btrim\(p_value\)\) not in", "when btrim(p_value) not in"),
    # an amount over 999999999999.99 is accepted (the sums overflowed; issue 16)
    "amount_too_large_accepted": (VALUE_RULES, r"when staging\.digits_above\(split_part\(btrim\(p_value\), "
                                     r"'\.', 1\), '999999999999'\)", "when false"),
    # a whole number over 2147483647 is called "not a whole number" again (issue 16)
    "whole_number_too_large_reason": (VALUE_RULES, r"then p_column \|\| ' is too large, at most 2147483647'",
                                      "then p_column || ' is not a whole number'"),
    # a uniq_id that is not 32 hexadecimal characters is loaded (issue 16)
    "uniq_id_any_text": (VALUE_RULES, r"when btrim\(p_value\) !~ '\^\[0-9A-Fa-f\]\{32\}\$'", "when false"),
    # an upper-case uniq_id is a second order (issue 16)
    "uniq_id_case_kept": (VALUE_RULES, r"else lower\(btrim\(p_value\)\)\n    end", "else btrim(p_value)\n    end"),
    # a full report's row outside the calendar is loaded
    "calendar_row_check": (VALUE_RULES, r"when not p_calendar @> p_ts::date then", "when false then"),
    # a full report's row dated after tomorrow is loaded
    "future_row_check": (VALUE_RULES, r"when p_ts::date > p_latest then", "when false then"),
    # rows dated tomorrow are rejected
    "rows_dated_tomorrow_rejected": (VALUE_RULES, r"when p_ts::date > p_latest then",
                                     "when p_ts::date >= p_latest then"),
    # rows dated the day after tomorrow are loaded
    "rows_dated_day_after_tomorrow_accepted": (INGEST, r"v_latest date := current_date \+ 1;",
                                               "v_latest date := current_date + 2;"),
    # --- ingest (030) and the header (020) ------------------------------------------------------
    # the first of identical lines keeps the line number
    "first_duplicate_line_kept": (INGEST, r"max\(l\.line_seq\) as last_seq", "min(l.line_seq) as last_seq"),
    # the first of conflicting lines wins
    "first_conflicting_line_wins": (INGEST, r"order by v\.date_time desc, v\.last_seq desc",
                                    "order by v.date_time desc, v.last_seq asc"),
    # conflicting lines are counted as duplicates
    "conflicts_counted_as_duplicates": (INGEST, r"        where c\.conflicting\n", "        where false\n"),
    # a losing line repeated in the file is journalled once, the rest as duplicates
    "repeated_conflicting_line_listed_once": (INGEST, r"cross join lateral unnest\(j\.line_seqs\) as line "
                                                 r"\(seq\)\n        where c\.conflicting",
                                              "cross join lateral (select j.last_seq) as line (seq)\n"
                                              "        where c.conflicting"),
    # a bad line repeated in the file is rejected once
    "repeated_bad_line_rejected_once": (INGEST, r"cross join lateral unnest\(j\.line_seqs\) as line \(seq\)\n"
                                           r"        cross join lateral \(  -- the first offending",
                                        "cross join lateral (select j.last_seq) as line (seq)\n"
                                        "        cross join lateral (  -- the first offending"),
    # a repeated header column is reported as every column repeated (issue 16)
    "header_repeats_every_column": (START_LOAD, r"group by h having count\(\*\) > 1", "group by h having count(*) > 0"),
    # the delivery-date calendar and future checks
    "delivery_date_calendar": (START_LOAD, r"when not exists \(select from mart\.d_calendar as c where "
                                  r"c\.date_actual = p_delivery_date\)", "when false"),
    "delivery_date_future": (START_LOAD, r"when p_delivery_date > current_date \+ 1", "when false"),
    "tomorrow_delivery_refused": (START_LOAD, r"when p_delivery_date > current_date \+ 1",
                                  "when p_delivery_date >= current_date + 1"),
    "day_after_tomorrow_delivery_accepted": (START_LOAD, r"when p_delivery_date > current_date \+ 1",
                                             "when p_delivery_date > current_date + 2"),
    # a failed load keeps its staged rows
    "failed_load_keeps_staged_rows": (START_LOAD, r"delete from staging\.user_order_log as s\n",
                                      "select\n    from staging.user_order_log as s\n"),
    # --- the gates (025), computed from the journal ------------------------------------------------
    "gate_one_always_passes": (CHECKS, r"coalesce\(l\.rows_loaded, 0\) > 0,", "true,"),
    "gate_two_three_customers_pass": (CHECKS, r"coalesce\(l\.customers, 0\) > 3,",
                                      "coalesce(l.customers, 0) >= 3,"),
    # gate 2 counts lines instead of distinct customers (the ingest's count)
    "gate_two_counts_lines": (INGEST, r"\(select count\(\*\) from \(select distinct s\.customer_id from "
                                 r"staged as s\) as c\) as customers",
                              "(select count(*) from staged as s) as customers"),
    "dated_on_delivery_day_always_passes": (CHECKS, r"l\.source = 'history' or coalesce\(l\.rows_off_day, "
                                               r"0\) = 0,", "true,"),
    # an increment with some rows dated another day passes (the ingest counts only... none)
    "partly_misdated_increment_passes": (INGEST, r"count\(\*\) filter \(where s\.date_time::date <> "
                                            r"s\.delivery_date\) as rows_off",
                                         "0 as rows_off"),
    "rows_reconcile_always_passes": (CHECKS, r"coalesce\(\n\s+l\.rows_read\n.*?false\n\s+\),", "true,"),
    "rows_reconcile_ignores_conflicts_table": (CHECKS, r"and l\.rows_conflicting = \(", "and l.rows_conflicting >= ("),
    "rows_reconcile_ignores_rejects_table": (CHECKS, r"and l\.rows_rejected = \(", "and l.rows_rejected >= ("),
    "staged_rows_valid_always_passes": (CHECKS, r"coalesce\(l\.rows_loaded, 0\) = 0\n\s+or \(l\.first_order_day",
                                        "true or (l.first_order_day"),
    "reject_share_inclusive": (CHECKS, r"coalesce\(l\.rows_rejected, 0\) <= p_max_reject_share",
                               "coalesce(l.rows_rejected, 0) < p_max_reject_share"),
    # the confirmation after the publish passes whatever the mart holds
    "net_revenue_reconciles_always_passes": (CHECKS, r"\(s\.n, s\.net, s\.ids, s\.pairs\) = \(m\.n, m\.net, "
                                                r"m\.ids, m\.pairs\),", "true,"),
    # the confirmation compares totals only, not which row holds which amount
    "reconciliation_compares_totals_only": (CHECKS, r"\(s\.n, s\.net, s\.ids, s\.pairs\) = \(m\.n, m\.net, "
                                               r"m\.ids, m\.pairs\),", "(s.n, s.net) = (m.n, m.net),"),
    "reconciliation_ignores_later_rows": (CHECKS, r"where o\.load_id = any\(array\(select d\.load_id "
                                             r"from later_delivery as d\)\)", "where false"),
    # --- the publish (040, 038, 039) --------------------------------------------------------------
    "publish_skips_gates": (PUBLISH, r"where not g\.passed\n", "where false\n"),
    # the publish does not check the rows against the journal as it reads them
    "publish_trusts_the_journal": (PUBLISH, r"if v_seen\.rows_seen <> v_load\.rows_loaded then",
                                   "if false then"),
    "publish_writes_broken_rows": (PUBLISH, r"                when c\.quantity < 1 or c\.staged_amount < 0\n"
                                      r"                    or c\.staged_amount <> round\(c\.staged_amount, 2\)\n"
                                      r"                    or c\.status not in \('shipped', 'refunded'\) then 'broken'\n",
                                   ""),
    # the in-publish reconciliation never raises
    "publish_reconciliation_off": (PUBLISH, r"if \(v_seen\.won_n, v_seen\.won_net, v_seen\.won_sum, "
                                      r"v_seen\.won_pairs\)\n", "if false and (v_seen.won_n, v_seen.won_net, "
                                      "v_seen.won_sum, v_seen.won_pairs)\n"),
    # a full report beats an increment of the same day
    "report_beats_increment": (PUBLISH, r"> \(f\.delivery_date, case f\.delivery_source when 'increment' "
                                  r"then 2 else 1 end\)\n                    then 'update'",
                               "> (f.delivery_date, case f.delivery_source when 'increment' "
                               "then 0 else 3 end)\n                    then 'update'"),
    # a winner is recomputed over every load's rows, published or not
    "failed_loads_eligible": (CONTESTED, r"        join staging\.published_delivery as p\n"
                                         r"            on p\.load_id = s\.load_id and p\.source = "
                                         r"s\.source and p\.delivery_date = s\.delivery_date\n"
                                         r"        order by s\.uniq_id",
                              "        order by s.uniq_id"),
    # a re-delivery keeps the lines it dropped
    "redelivery_keeps_old_lines": (CONTESTED, r"and not exists \(select from winner as w where w\.uniq_id = "
                                      r"o\.uniq_id\)", "and false"),
    # a fact a re-delivery drops is not looked up in the other published deliveries
    "dropped_fact_not_looked_up_elsewhere": (CONTESTED, r"join staging\.user_order_log as s on s\.uniq_id = "
                                                r"c\.uniq_id\n        join staging\.published_delivery as p\n"
                                                r"            on p\.load_id = s\.load_id",
                                             "join staging.user_order_log as s on s.uniq_id = c.uniq_id\n"
                                             "        join staging.published_delivery as p\n"
                                             "            on p.load_id = s.load_id and s.load_id = "
                                             "(select l.load_id from staging.load_log as l "
                                             "order by l.load_id desc limit 1)"),
    # a re-delivery's rejected line drops its published order (issue 16)
    "rejected_line_drops_its_order": (PUBLISH, r"and exists \(\n\s+select from staging\.user_order_log_rejects",
                                      "and false and exists (\n select from staging.user_order_log_rejects"),
    # days loaded out of order: the later deliveries' names are ignored
    "later_deliveries_ignored": (PUBLISH, r"v_out_of_order := exists \(", "v_out_of_order := false and exists ("),
    # members a re-delivery leaves unnamed keep the replaced delivery's name
    "uncovered_members_not_looked_up": (PUBLISH, r"if exists \(select from publish_work\.old_member\) then\n"
                                           r"        call mart\.name_uncovered_members\(\);",
                                        "if false then\n        call mart.name_uncovered_members();"),
    # members of rows that lost stay in the dimensions without a fact
    "lost_rows_members_kept": (PUBLISH, r"from judged as j where j\.action = 'lost'",
                               "from judged as j where false"),
    # within the load, a member with two names takes its earliest row's
    "names_by_earliest_order_time": (PUBLISH, r"order by m\.kind, m\.id, s\.delivery_date desc, s\.source_rank "
                                        r"desc, s\.date_time desc,",
                                     "order by m.kind, m.id, s.delivery_date desc, s.source_rank "
                                     "desc, s.date_time asc,"),
    # out of order: the earliest delivery names a member
    "names_by_earliest_delivery": (PUBLISH, r"order by c\.kind, c\.id, c\.delivery_date desc",
                                   "order by c.kind, c.id, c.delivery_date asc"),
    # a member no fact uses any more stays (customers)
    "customer_left_without_sales_kept": (MEMBER_NAMES, r"where o\.kind = 'customer' and d\.customer_id = o\.id",
                                         "where false and d.customer_id = o.id"),
    "item_left_without_sales_kept": (MEMBER_NAMES, r"where o\.kind = 'item' and d\.item_id = o\.id",
                                     "where false and d.item_id = o.id"),
    "city_left_without_sales_kept": (MEMBER_NAMES, r"where o\.kind = 'city' and d\.city_id = o\.id",
                                     "where false and d.city_id = o.id"),
    # a renamed item keeps its old name in the retention rows
    "item_rename_not_propagated": (MEMBER_NAMES, r"where r\.item_id = n\.item_id and r\.item_name is distinct "
                                      r"from n\.item_name\n    \)\n", "where false\n    )\n"),
    "item_renamed_alone_not_propagated_by_city": (MEMBER_NAMES, r"set item_name = n\.item_name\n    from renamed as n\n"
                                                     r"    where r\.item_id = n\.item_id and r\.item_name is "
                                                     r"distinct from n\.item_name;",
                                                  "set item_name = n.item_name\n    from renamed as n\n"
                                                  "    where false;"),
    "city_renamed_alone_not_propagated": (MEMBER_NAMES, r"where r\.city_id = n\.city_id and r\.city_name is distinct "
                                             r"from n\.city_name;", "where false;"),
    # a replaced delivery's load is journalled superseded while it still publishes another day
    "partly_replaced_report_superseded": (PUBLISH, r"and not exists \(select from staging\.published_delivery as p "
                                             r"where p\.load_id = l\.load_id\);", ";"),
    # replacing one day drops the replaced load's rows of its other days too
    "replaced_day_drops_the_loads_other_days": (PUBLISH, r"where s\.load_id = any\(v_replaced\) and s\.source = "
                                                   r"v_load\.source\n\s+and s\.delivery_date = any\("
                                                   r"v_load\.delivery_days\);",
                                                "where s.load_id = any(v_replaced);"),
    # a superseded delivery's rows stay in staging
    "superseded_rows_kept": (PUBLISH, r"-- Rows of the replaced deliveries are no longer eligible: they go "
                                r"\(their raw files stay\)\.\n    if v_replaced is not null then",
                             "if false then"),
    # merge_increment: publishes the oldest waiting increment / a report / fails on a published day
    "merge_increment_publishes_the_oldest": (PUBLISH, r"select max\(l\.load_id\) into v_load_id",
                                             "select min(l.load_id) into v_load_id"),
    "merge_increment_fails_on_a_published_day": (PUBLISH, r"raise notice 'the increment of % is already published', "
                                                    r"p_date;", "raise exception 'already published';"),
    "publish_takes_failed_and_superseded_loads": (PUBLISH, r"if v_load\.status <> 'ingested' then",
                                                  "if v_load.status = 'copying' then"),
    # --- retention kept from the day's change (050, 051) ---------------------------------------------
    # a customer whose class changes does not move its week's other sales
    "class_change_not_moved": (RETENTION_DELTA, r"        where w\.old_class <> w\.new_class\n", "        where false\n"),
    # an item row counts a customer again for each city
    "item_counts_cities_as_customers": (RETENTION_DELTA, r"coalesce\(m\.shipped_cities, 0\) as old_shipped_cities",
                                        "0 as old_shipped_cities"),
    # a week whose count of days changes keeps the old days_in_mart in rows the day did not touch
    "days_in_mart_stale": (RETENTION_DELTA, r"    if v_weeks is not null then\n        update mart\.customer_retention as r",
                           "    if false then\n        update mart.customer_retention as r"),
    # a (customer, week, item, city) left without orders stays in the state
    "state_row_not_deleted": (RETENTION_DELTA, r"and m\.item_id = s\.item_id and m\.city_id = s\.city_id and "
                                 r"s\.new_s \+ s\.new_r = 0", "and false"),
    # a retention row left without orders stays
    "empty_city_row_kept": (RETENTION_DELTA, r"and r\.orders_count \+ r\.customers_refunded \+ d\.orders_count \+ "
                               r"d\.customers_refunded = 0\n    \),\n\n    item_deleted",
                            "and false\n    ),\n\n    item_deleted"),
    # the refresh runs with its caller's search_path
    "refresh_search_path_unpinned": (REBUILD, r"security definer\nset search_path = pg_catalog, pg_temp\n",
                                     "security definer\n"),
    # the publish runs with its caller's search_path
    "publish_search_path_unpinned": (PUBLISH, r"security definer\nset search_path = pg_catalog, pg_temp\n",
                                     "security definer\n"),
    # --- the rule views -----------------------------------------------------------------------
    "refunded_customers_counted_as_lines": ("views/customer_retention_rows.sql",
                                            r"count\(distinct o\.customer_id\) filter \(\n"
                                            r"(\s+where o\.status = 'refunded'\n)",
                                            r"count(o.customer_id) filter (\n\1"),
    "refunded_customers_by_city_counted_as_lines": ("views/customer_retention_by_city_rows.sql",
                                                    r"count\(distinct o\.customer_id\) filter \(\n"
                                                    r"(\s+where o\.status = 'refunded'\n)",
                                                    r"count(o.customer_id) filter (\n\1"),
    "returning_customers_counted_as_lines": ("views/customer_retention_rows.sql",
                                             r"count\(distinct o\.customer_id\) filter \(\n"
                                             r"(\s+where o\.status = 'shipped' and "
                                             r"o\.customer_class = 'returning'\n)",
                                             r"count(o.customer_id) filter (\n\1"),
    "returning_customers_by_city_counted_as_lines": (
        "views/customer_retention_by_city_rows.sql",
        r"count\(distinct o\.customer_id\) filter \(\n"
        r"(\s+where o\.status = 'shipped' and o\.customer_class = 'returning'\n)",
        r"count(o.customer_id) filter (\n\1"),
    # --- set-based referential integrity (issue 15) ---------------------------------------------
    # a fact without its customer, item, city or day is let in
    "facts_without_members_pass": (INTEGRITY, r"    if v_missing <> '' then", "    if false then"),
    # a member facts use is deleted or re-keyed
    "members_deleted_under_facts": (INTEGRITY, r"    if v_used is not null then", "    if false then"),
    # the fact side locks nothing: a member deleted meanwhile orphans the fact
    "fact_side_takes_no_lock": (INTEGRITY, r"    lock table mart\.d_customer, mart\.d_item, mart\.d_city, "
                                    r"mart\.d_calendar in share mode;\n", ""),
    # the member side locks nothing: a fact inserted meanwhile is orphaned
    "member_side_takes_no_lock": (INTEGRITY, r"    lock table mart\.f_sales in share mode;\n    if p_kind", "    if p_kind"),
    # a snapshot transaction may delete members
    "members_deleted_in_any_isolation": (INTEGRITY, r"if current_setting\('transaction_isolation'\) <> "
                                             r"'read committed' then", "if false then"),
    # replica mode skips the fact check
    "integrity_skipped_in_replica_mode": (INTEGRITY, r"alter table mart\.f_sales enable always trigger "
                                              r"f_sales_members_exist_after_insert;\n", ""),
    # a member table is truncated under facts
    "member_table_truncated_under_facts": (INTEGRITY, r"if exists \(select from mart\.f_sales\) then", "if false then"),
    # --- privileges (issue 16) --------------------------------------------------------------------
    # the loader keeps its row rights on the mart and staging
    "loader_writes_the_mart": (OWNER, r"revoke all on all tables in schema staging, mart from sales_loader;\n", ""),
    # large objects stay open to every login
    "large_objects_open": (GRANTS, r"revoke execute on function pg_catalog\.lo_from_bytea", "grant execute on function pg_catalog.lo_from_bytea"),
    "public_may_connect": (GRANTS, r"execute format\('revoke all on database %I from public', current_database\(\)\);",
                           "execute format('grant connect on database %I to public', current_database());"),
    "public_runs_routines": (GRANTS, r"revoke all on all routines in schema staging, mart from public;",
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
