"""The value rules check the common case (plain digits) without a regular expression first.
That shortcut must never accept a value the full rule refuses, nor change a message: every
value here, hand-picked edge cases and hypothesis' strings over the characters that matter,
gets the same answer from the functions as from the full rule written out below."""

from __future__ import annotations

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The full rules, written out plainly with casts, the oracle: the functions answer by digits
# (so a value of any length gets its reason) and take shortcuts for the common case.
FULL_WHOLE_NUMBER = """
    coalesce(case when %(v)s is null or btrim(%(v)s) = '' then 'c is blank' end, case
        when btrim(%(v)s) !~ '^[+-]?[0-9]+$' then 'c is not a whole number'
        when btrim(%(v)s)::numeric > 2147483647 then 'c is too large, at most 2147483647'
        when %(min)s::integer is null and btrim(%(v)s)::numeric < -2147483648
            then 'c is too small, at least -2147483648'
        when btrim(%(v)s)::numeric < %(min)s::integer
            then 'c must be at least ' || %(min)s::integer::text
    end)"""
FULL_AMOUNT = """
    coalesce(case when %(v)s is null or btrim(%(v)s) = '' then 'c is blank' end, case
        when btrim(%(v)s) !~ '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$' then 'c is not a number'
        when btrim(%(v)s)::numeric < 0 then 'c is negative'
        when btrim(%(v)s)::numeric <> round(btrim(%(v)s)::numeric, 2)
            then 'c has more than 2 decimal places'
        when btrim(%(v)s)::numeric > 999999999999.99
            then 'c is too large, at most 999999999999.99'
    end)"""

EDGES = [None, "", " ", "0", "00", "1", "01", "-1", "+1", " 7 ", "123456789", "1234567890",
         "999999999", "0000000001", "1.", ".5", "1.5", "1.50", "1.505", "1.500", "-0.00", "0.00",
         "123456789012", "1234567890123", "123456789012.12", "1234567890123.1", "1..2", "1.2.3",
         "1e5", "٣", "１２", "1 2", "\t5", "2147483647", "2147483648", "-2147483648",
         "-2147483649", "99999999999999999999", "-0", "NaN", "Infinity", "999999999999.99",
         "1000000000000", "0001234567890123.5", "-.5", "12.3400"]


def answers(conn, value, minimum=None):
    with conn.cursor() as cur:
        cur.execute(
            "select staging.whole_number_problem('c', %(v)s, %(min)s::integer), "
            + FULL_WHOLE_NUMBER + ", staging.amount_problem('c', %(v)s), " + FULL_AMOUNT,
            {"v": value, "min": minimum})
        fast_whole, full_whole, fast_amount, full_amount = cur.fetchone()
    return (fast_whole, fast_amount), (full_whole, full_amount)


@pytest.mark.parametrize("minimum", [None, 1])
def test_edge_values_get_the_full_rules_answer(dwh, minimum):
    for value in EDGES:
        fast, full = answers(dwh, value, minimum)
        assert fast == full, value


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(alphabet="0123456789.+- ", max_size=16), minimum=st.sampled_from([None, 1]))
def test_any_value_gets_the_full_rules_answer(dwh, value, minimum):
    try:
        fast, full = answers(dwh, value, minimum)
    except psycopg2.Error as exc:  # the full rule never fails on its own: neither may the fast
        pytest.fail(f"{value!r}: {exc}")
    assert fast == full, value
