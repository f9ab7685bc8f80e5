"""Pro-rata allocation to the cent: hand-checked cases and properties that hold for any input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.lib.allocation import CENT, allocate

amounts = st.decimals(min_value=0, max_value=10**10, places=2, allow_nan=False, allow_infinity=False)
weight = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


def test_three_equal_lps_split_a_dollar_and_the_first_takes_the_odd_cent():
    assert allocate(Decimal("1.00"), [Decimal("5")] * 3) == [Decimal("0.34"), Decimal("0.33"), Decimal("0.33")]


def test_the_leftover_cent_goes_to_the_part_that_lost_most_in_rounding():
    # Exact shares 333.333…, 666.666…: the second lost 0.0066…, the first 0.0033….
    assert allocate(Decimal("1000.00"), [Decimal("1"), Decimal("2")]) == [Decimal("333.33"), Decimal("666.67")]


def test_a_ten_percent_call_on_round_commitments_is_exact():
    commitments = [Decimal("25000000"), Decimal("10000000"), Decimal("5000000")]
    assert allocate(Decimal("4000000.00"), commitments) == [Decimal("2500000"), Decimal("1000000"), Decimal("500000")]


def test_a_zero_weight_gets_nothing_and_no_weight_at_all_is_refused():
    assert allocate(Decimal("10.00"), [Decimal("0"), Decimal("3")]) == [Decimal("0"), Decimal("10.00")]
    with pytest.raises(ValueError, match="nothing to allocate against"):
        allocate(Decimal("10.00"), [Decimal("0")])
    with pytest.raises(ValueError, match="whole cents"):
        allocate(Decimal("10.001"), [Decimal("1")])
    with pytest.raises(ValueError, match="negative"):
        allocate(Decimal("10.00"), [Decimal("-1"), Decimal("2")])


@given(total=amounts, weights=st.lists(weight, min_size=1, max_size=40).filter(lambda ws: sum(ws) > 0))
def test_the_parts_always_add_up_to_the_total_and_none_is_negative_or_a_cent_off(total, weights):
    parts = allocate(total, weights)
    assert sum(parts, Decimal("0")) == total
    whole = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        assert part >= 0
        assert part == part.quantize(CENT)
        assert abs(part - total * w / whole) < CENT  # never more than a cent from its exact share
