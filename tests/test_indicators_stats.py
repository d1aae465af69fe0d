"""Indicator statistics and calendar periods against hand-computed values."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indicators import stats
from indicators.periods import date_of_key, jalali_day, period_of, periods_between, previous


@pytest.mark.parametrize(
    ("successes", "n", "value", "low", "high"),
    [
        # Wilson 95%: p=0.8, n=10 -> (0.4902, 0.9433); p=0.5, n=100 -> (0.4038, 0.5962)
        (8, 10, 80.0, 49.02, 94.33),
        (50, 100, 50.0, 40.38, 59.62),
        (0, 20, 0.0, 0.0, 16.11),
    ],
)
def test_wilson_matches_hand_computed_values(successes, n, value, low, high):
    f = stats.wilson(successes, n, min_n=5).to_dict()
    assert f["value"] == pytest.approx(value)
    assert f["ci_low"] == pytest.approx(low, abs=0.01)
    assert f["ci_high"] == pytest.approx(high, abs=0.01)


def test_net_score_nps_by_hand():
    # 50 promoters, 20 detractors of 100: NPS 30, Var = (0.5 + 0.2 - 0.09) / 100 -> se 0.0781
    f = stats.net_score(50, 20, 100)
    assert f.value == pytest.approx(30.0)
    assert f.ci_low == pytest.approx(30 - 1.96 * 7.8102, abs=0.01)
    assert f.ci_high == pytest.approx(30 + 1.96 * 7.8102, abs=0.01)


def test_mean_uses_student_t():
    xs = [1, 2, 3, 4, 5]
    f = stats.mean(sum(xs), sum(x * x for x in xs), len(xs), min_n=2)
    # mean 3, sd 1.5811, t(0.975, 4) = 2.7764 -> half width 1.9632
    assert f.value == pytest.approx(3.0)
    assert f.ci_low == pytest.approx(3 - 1.9632, abs=1e-3)
    assert f.ci_high == pytest.approx(3 + 1.9632, abs=1e-3)


def test_insufficient_data_below_min_n_and_empty():
    assert stats.wilson(5, 29, min_n=30).insufficient_data
    assert not stats.wilson(5, 30, min_n=30).insufficient_data
    e = stats.wilson(0, 0)
    assert e.value is None and e.insufficient_data and e.n == 0


def test_satisfaction_is_net_rescaled_to_0_100():
    s = stats.satisfaction_from_net(stats.net_score(30, 10, 50))
    assert s.value == pytest.approx(70.0)  # 100 * (30 + 10/2) / 50
    assert s.ci_low < 70 < s.ci_high


def test_weighted_mean_skips_insufficient_and_renormalizes():
    a = stats.Figure(80.0, 100, 70.0, 90.0, False)
    b = stats.Figure(40.0, 100, 30.0, 50.0, False)
    c = stats.Figure(0.0, 3, None, None, True)
    f = stats.weighted_mean([a, b, c], [3, 1, 5])
    assert f.value == pytest.approx(70.0)  # (3*80 + 1*40) / 4; c is ignored
    assert f.ci_low < 70 < f.ci_high


def test_two_proportion_z_and_benjamini_hochberg():
    z, p = stats.two_proportion_z(30, 100, 10, 100)
    assert z == pytest.approx(3.5355, abs=1e-3) and p < 0.001
    z, p = stats.two_proportion_z(10, 100, 30, 100)
    assert z < 0 and p > 0.99  # a fall is not a rise
    # BH by hand: p = .01 .04 .03 .005 -> ranks 2 4 3 1 -> p*m/rank = .02 .04 .04 .02, monotone from the top
    q = stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    assert q == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.benjamini_hochberg([]) == []


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_estimate(xn):
    x, n = xn
    f = stats.wilson(x, n)
    assert f.ci_low <= f.value <= f.ci_high


@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.integers(0, n), st.just(n))).filter(lambda t: t[0] + t[1] <= t[2]))
def test_net_score_interval_contains_estimate(t):
    plus, minus, n = t
    f = stats.net_score(plus, minus, n)
    assert -100 <= f.ci_low <= f.value <= f.ci_high <= 100


@pytest.mark.parametrize(
    ("day", "period", "calendar", "key", "start", "end"),
    [
        (date(2024, 3, 19), "month", "jalali", "1402-12", date(2024, 2, 20), date(2024, 3, 19)),
        (date(2024, 3, 20), "month", "jalali", "1403-01", date(2024, 3, 20), date(2024, 4, 19)),
        (date(2024, 3, 20), "year", "jalali", "1403", date(2024, 3, 20), date(2025, 3, 20)),
        (date(2024, 3, 19), "year", "jalali", "1402", date(2023, 3, 21), date(2024, 3, 19)),
        (date(2024, 6, 20), "quarter", "jalali", "1403-Q1", date(2024, 3, 20), date(2024, 6, 20)),
        (date(2024, 6, 21), "quarter", "jalali", "1403-Q2", date(2024, 6, 21), date(2024, 9, 21)),
        (date(2024, 3, 20), "day", "jalali", "1403-01-01", date(2024, 3, 20), date(2024, 3, 20)),
        # 1 Farvardin 1403 is a Wednesday: the Saturday..Friday week 1 starts 1402-12-26
        (date(2024, 3, 20), "week", "jalali", "1403-W01", date(2024, 3, 16), date(2024, 3, 22)),
        (date(2024, 3, 23), "week", "jalali", "1403-W02", date(2024, 3, 23), date(2024, 3, 29)),
        (date(2024, 3, 20), "week", "gregorian", "2024-W12", date(2024, 3, 18), date(2024, 3, 24)),
        (date(2024, 2, 29), "month", "gregorian", "2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        (date(2024, 11, 30), "quarter", "gregorian", "2024-Q4", date(2024, 10, 1), date(2024, 12, 31)),
    ],
)
def test_periods(day, period, calendar, key, start, end):
    p = period_of(day, period, calendar)
    assert (p.key, p.start, p.end) == (key, start, end)


def test_jalali_keys_and_labels():
    assert jalali_day(date(2024, 3, 20)) == 14030101
    assert jalali_day(date(2024, 3, 19)) == 14021229
    assert date_of_key(14030101, "jalali") == date(2024, 3, 20)
    assert date_of_key(140301, "jalali") == date(2024, 3, 20)
    assert date_of_key(202403, "gregorian") == date(2024, 3, 1)
    assert period_of(date(2024, 3, 20), "month", "jalali").label_fa == "فروردین ۱۴۰۳"
    p = period_of(date(2024, 4, 25), "month", "jalali")
    assert previous(p, "month", "jalali").key == "1403-01"
    keys = [x.key for x in periods_between(date(2024, 2, 25), date(2024, 4, 25), "month", "jalali")]
    assert keys == ["1402-12", "1403-01", "1403-02"]
