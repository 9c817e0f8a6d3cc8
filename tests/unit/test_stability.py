"""Stability statistics against published worked examples and independent calculations.

The published examples are those of R. Velagaleti, "Stability and Shelf Life of Pharmaceutical
Products", section 7 of *Pharmaceutical Manufacturing Handbook: Regulations and Quality*
(S. C. Gad, ed., Wiley, 2008), pp. 602, 609, 613 and 615: assay in % of label claim, lower
acceptance limit 90 %, one-sided 95 % bound. The data and the textbook's shelf lives (in whole
months, i.e. the crossing time rounded down), with those of the Minitab stability macro, are
transcribed in the CRAN package `stab` (H.-y. Lee and Y.-j. Lee), inst/extdata/readme.txt; its
reference outputs (inst/extdata/p6xx.txt, made with R's lm and anova) give the fitted lines
and the ANCOVA p values asserted to the precision printed there.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from labgate.adapters.oot_regression import check_trend
from labgate.adapters.q1e_shelf_life import (
    Criterion,
    Model,
    estimate_shelf_life,
    extrapolation_limit,
)
from labgate.adapters.stability_observations import Observation
from labgate.domain.errors import InvalidInput


def results(rows: dict[str, list[tuple[float, float]]]) -> list[Observation]:
    """Observations from {batch: [(month, value), ...]}."""
    return [Observation(batch, t, v) for batch, pairs in rows.items() for t, v in pairs]


# Velagaleti 2008, p. 602: one batch.
P602 = results(
    {
        "A": [
            (0, 103.5),
            (3, 97.3),
            (6, 97.2),
            (9, 94.2),
            (12, 94.8),
            (18, 94.1),
            (24, 91.3),
            (36, 88.7),
        ]
    }
)
# p. 609: three batches whose slopes and intercepts pool (model 1, "cics").
P609 = results(
    {
        "1": [(0, 102.4), (3, 98.1), (6, 99.2), (9, 97.5), (12, 95.0), (18, 96.1)],
        "2": [(0, 101.1), (3, 101.2), (6, 99.0), (9, 97.2), (12, 96.4), (18, 95.5), (24, 94.3)],
        "3": [
            (0, 104.1),
            (3, 102.1),
            (6, 99.5),
            (9, 98.1),
            (12, 95.7),
            (18, 94.1),
            (24, 94.0),
            (36, 93.5),
        ],
    }
)
# p. 613: slopes differ (model 3, "dids").
P613 = results(
    {
        "1": [(0, 99.2), (3, 97.1), (6, 96.1), (9, 95.2), (12, 93.8), (18, 93.1), (24, 92.4)],
        "2": [(0, 98.7), (3, 97.0), (6, 96.2), (9, 95.1), (12, 94.2), (18, 93.3)],
        "3": [(0, 102.5), (3, 98.9), (6, 97.1), (9, 95.6), (12, 94.1), (18, 93.1)],
    }
)
# p. 615: common slope, different intercepts (model 2, "dics").
P615 = results(
    {
        "1": [
            (0, 98.4),
            (3, 96.1),
            (6, 94.2),
            (9, 93.5),
            (12, 90.0),
            (18, 89.1),
            (24, 89.2),
            (36, 87.3),
        ],
        "2": [(0, 99.1), (3, 97.2), (6, 96.3), (9, 95.2), (12, 93.4), (18, 91.5), (24, 90.3)],
        "3": [
            (0, 104.1),
            (3, 102.1),
            (6, 99.5),
            (9, 98.1),
            (12, 95.7),
            (18, 94.1),
            (24, 94.0),
            (36, 93.5),
        ],
    }
)
NLT_90 = Criterion(lower=90)


def mirrored(observations: list[Observation]) -> list[Observation]:
    """The same data reflected about 100: a falling assay becomes a rising impurity."""
    return [Observation(o.batch, o.time, 200 - o.value) for o in observations]


def closed_form_crossing(observations: list[Observation], limit: float, level: float) -> float:
    """Where a + bt - t_q s sqrt(1/n + (t - mean)^2 / Sxx) = limit, by the quadratic formula.

    An independent check on the library path: numpy's polyfit for the line, scipy's t
    quantile, and the roots of (c + bt)^2 = k^2 (1/n + (t - m)^2 / Sxx) with c = a - limit.
    """
    t = np.array([o.time for o in observations])
    y = np.array([o.value for o in observations])
    b, a = np.polyfit(t, y, 1)
    n, m, sxx = len(t), t.mean(), ((t - t.mean()) ** 2).sum()
    s = math.sqrt(((y - (a + b * t)) ** 2).sum() / (n - 2))
    k2 = (stats.t.ppf(level, n - 2) * s) ** 2
    c = a - limit
    roots = np.roots(
        [b**2 - k2 / sxx, 2 * (b * c + k2 * m / sxx), c**2 - k2 * (1 / n + m**2 / sxx)]
    )
    valid = [r.real for r in roots if abs(r.imag) < 1e-12 and r.real >= 0 and c + b * r.real >= 0]
    return min(valid)


class TestPublishedShelfLife:
    def test_single_batch_p602(self) -> None:
        """Velagaleti p. 602: 23 months; stab's lm gives y = 99.63951 - 0.33348 t."""
        estimate = estimate_shelf_life(P602, NLT_90)
        (line,) = estimate.batches
        assert estimate.model is Model.CICS
        assert (estimate.p_slopes, estimate.p_intercepts) == (None, None)
        assert line.intercept == pytest.approx(99.63951, abs=5e-6)
        assert line.slope == pytest.approx(-0.33348, abs=5e-6)
        assert estimate.shelf_life is not None and math.floor(estimate.shelf_life) == 23
        assert estimate.determined_by == "A"

    def test_single_batch_matches_the_closed_form(self) -> None:
        estimate = estimate_shelf_life(P602, NLT_90)
        expected = closed_form_crossing(P602, 90, 0.95)
        assert estimate.shelf_life == pytest.approx(expected, abs=1e-6)

    def test_pooled_batches_p609(self) -> None:
        """Velagaleti p. 609: slopes and intercepts pool; 32 months (textbook, stab, Minitab)."""
        estimate = estimate_shelf_life(P609, NLT_90)
        assert estimate.model is Model.CICS
        assert estimate.p_slopes == pytest.approx(0.9487691, abs=5e-8)  # stab: batch:time row
        assert estimate.p_intercepts is not None and estimate.p_intercepts >= 0.25
        for line in estimate.batches:  # one pooled line, shared by every batch
            assert line.intercept == pytest.approx(100.9272, abs=5e-5)
            assert line.slope == pytest.approx(-0.2867, abs=5e-5)
        assert estimate.shelf_life is not None and math.floor(estimate.shelf_life) == 32
        assert estimate.determined_by is None  # one pooled line for all batches
        # The pooled line is an ordinary straight line through all 21 results.
        assert estimate.shelf_life == pytest.approx(closed_form_crossing(P609, 90, 0.95), abs=1e-6)

    def test_separate_slopes_p613_shortest_batch_wins(self) -> None:
        """Velagaleti p. 613: batches 24, 23 and 17 months; the product gets 17 (batch 3)."""
        estimate = estimate_shelf_life(P613, NLT_90)
        assert estimate.model is Model.DIDS
        assert estimate.p_slopes == pytest.approx(0.02392274, abs=5e-9)
        assert estimate.p_intercepts is None  # not tested once the slopes do not pool
        lines = {b.batch: b for b in estimate.batches}
        for batch, intercept, slope in (
            ("1", 98.04611, -0.2697605),
            ("2", 98.11571, -0.2957143),
            ("3", 100.91, -0.5033333),
        ):
            assert lines[batch].intercept == pytest.approx(intercept, abs=5e-6)
            assert lines[batch].slope == pytest.approx(slope, abs=5e-8)
        months = [math.floor(lines[b].shelf_life or 0) for b in ("1", "2", "3")]
        assert months == [24, 23, 17]
        assert estimate.determined_by == "3"
        assert estimate.shelf_life == min(b.shelf_life or math.inf for b in estimate.batches)

    def test_each_unpooled_batch_is_its_own_straight_line(self) -> None:
        estimate = estimate_shelf_life(P613, NLT_90)
        for line in estimate.batches:
            own = [o for o in P613 if o.batch == line.batch]
            assert line.shelf_life == pytest.approx(closed_form_crossing(own, 90, 0.95), abs=1e-6)

    def test_common_slope_p615(self) -> None:
        """Velagaleti p. 615: parallel lines; Minitab's macro gives 17, 21, 33 and picks 17.

        The textbook prints 16, 22 and 30 (picking 16), from its own MATLAB fit; stab's readme
        flags this example as the one that differs. The lines are those of stab's lm.
        """
        estimate = estimate_shelf_life(P615, NLT_90)
        assert estimate.model is Model.DICS
        assert estimate.p_slopes == pytest.approx(0.6998373, abs=5e-8)
        assert estimate.p_intercepts is not None and estimate.p_intercepts < 0.25
        lines = {b.batch: b for b in estimate.batches}
        for batch, intercept in (("1", 96.36857), ("2", 97.87129), ("3", 101.7811)):
            assert lines[batch].intercept == pytest.approx(intercept, abs=5e-5)
            assert lines[batch].slope == pytest.approx(-0.3069313, abs=5e-8)
        assert [math.floor(lines[b].shelf_life or 0) for b in ("1", "2", "3")] == [17, 21, 33]
        assert estimate.determined_by == "1"
        assert estimate.shelf_life is not None and math.floor(estimate.shelf_life) == 17


class TestSidesOfTheCriterion:
    def test_one_sided_upper_mirrors_one_sided_lower(self) -> None:
        """An impurity rising to NMT 110 behaves as the assay falling to NLT 90."""
        for data in (P602, P609, P613, P615):
            falling = estimate_shelf_life(data, NLT_90)
            rising = estimate_shelf_life(mirrored(data), Criterion(upper=110))
            assert rising.model is falling.model
            assert rising.determined_by == falling.determined_by
            assert rising.shelf_life == pytest.approx(falling.shelf_life, abs=1e-6)

    def test_two_sided_uses_97_5_percent_per_side(self) -> None:
        criterion = Criterion(lower=90, upper=110)
        estimate = estimate_shelf_life(P602, criterion)
        assert (criterion.sides, criterion.bound_level) == (2, pytest.approx(0.975))
        assert estimate.shelf_life == pytest.approx(closed_form_crossing(P602, 90, 0.975), abs=1e-6)
        one_sided = estimate_shelf_life(P602, NLT_90).shelf_life
        assert estimate.shelf_life is not None and one_sided is not None
        assert estimate.shelf_life < one_sided

    def test_two_sided_meets_whichever_limit_comes_first(self) -> None:
        rising = mirrored(P602)  # 96.5 at time 0, rising by 0.33 a month
        estimate = estimate_shelf_life(rising, Criterion(lower=90, upper=110))
        expected = estimate_shelf_life(rising, Criterion(lower=-1e9, upper=110))
        assert estimate.shelf_life == pytest.approx(expected.shelf_life, abs=1e-9)


class TestProposedShelfLife:
    @pytest.mark.parametrize(("span", "limit"), [(6, 12), (12, 24), (18, 30), (24, 36), (36, 48)])
    def test_q1e_extrapolation_limit(self, span: float, limit: float) -> None:
        """ICH Q1E Appendix A: up to 2X, but not more than X + 12 months."""
        assert extrapolation_limit(span) == limit

    def test_estimate_inside_the_limit_is_proposed_as_is(self) -> None:
        estimate = estimate_shelf_life(P613, NLT_90)
        assert estimate.extrapolation_limit == 36
        assert estimate.proposed_shelf_life == estimate.shelf_life

    def test_estimate_beyond_x_plus_12_is_cut_to_it(self) -> None:
        slow = results(
            {"A": [(0, 100.2), (3, 99.3), (6, 98.9), (9, 98.1), (12, 97.7), (18, 96.4), (24, 95.3)]}
        )
        estimate = estimate_shelf_life(slow, NLT_90)
        assert estimate.shelf_life is not None and estimate.shelf_life > 36
        assert estimate.proposed_shelf_life == 36

    def test_no_crossing_before_the_horizon_is_no_number(self) -> None:
        flat = results({"A": [(0, 100.0), (1, 99.9), (2, 100.1), (3, 99.95), (6, 100.0)]})
        estimate = estimate_shelf_life(flat, NLT_90)
        assert estimate.shelf_life is None
        assert estimate.determined_by is None
        assert estimate.horizon == 30
        assert estimate.reason is not None and "no estimate" in estimate.reason
        assert estimate.proposed_shelf_life == 12  # 2X, X = 6: statistics allow more, Q1E not

    def test_bound_outside_at_time_zero_gives_zero(self) -> None:
        low = results({"A": [(0, 90.1), (3, 89.5), (6, 89.9), (9, 89.0)]})
        estimate = estimate_shelf_life(low, NLT_90)
        assert estimate.shelf_life == 0
        assert estimate.proposed_shelf_life == 0
        assert estimate.reason is not None and "time 0" in estimate.reason


def test_exact_identical_lines_pool_without_warnings() -> None:
    """A perfect fit leaves F to rounding noise; equal exact lines show no difference."""
    exact = [Observation(b, t, 100 - 0.5 * t) for b in "XYZ" for t in (0, 3, 6, 12)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate = estimate_shelf_life(exact, NLT_90)
    assert estimate.model is Model.CICS
    assert (estimate.p_slopes, estimate.p_intercepts) == (None, None)
    assert estimate.shelf_life == pytest.approx(20)


def test_exact_lines_with_different_slopes_do_not_pool() -> None:
    exact = [Observation(b, t, 100 - r * t) for b, r in (("X", 0.5), ("Y", 1.0)) for t in (0, 3, 6)]
    estimate = estimate_shelf_life(exact, NLT_90)
    assert (estimate.model, estimate.p_slopes) == (Model.DIDS, 0.0)
    assert (estimate.determined_by, estimate.shelf_life) == ("Y", pytest.approx(10))


@pytest.mark.parametrize(
    ("observations", "criterion", "reason"),
    [
        (P602[:2], NLT_90, "stability.too_few_points"),
        (P602, Criterion(upper=110), None),
        (
            P613 + results({"4": [(6, 95.0), (6, 95.1), (6, 94.9)]}),
            NLT_90,
            "stability.batch_single_time",
        ),
        (P613 + results({"4": [(0, 99.0), (6, 95.1)]}), NLT_90, "stability.batch_too_few_points"),
        (P602 + results({"A": [(-1, 99.0)]}), NLT_90, "stability.time_negative"),
        (P602 + results({"A": [(48, math.nan)]}), NLT_90, "stability.value_not_finite"),
    ],
)
def test_rules_on_the_data(
    observations: list[Observation], criterion: Criterion, reason: str | None
) -> None:
    if reason is None:
        estimate_shelf_life(observations, criterion)  # a control: the same data is fine
        return
    with pytest.raises(InvalidInput) as raised:
        estimate_shelf_life(observations, criterion)
    assert raised.value.reason == reason
    assert raised.value.message.endswith(".")


@pytest.mark.parametrize(
    ("lower", "upper", "reason"),
    [
        (None, None, "stability.limit_missing"),
        (95.0, 90.0, "stability.limits_inverted"),
        (90.0, 90.0, "stability.limits_inverted"),
        (math.inf, None, "stability.limit_invalid"),
    ],
)
def test_rules_on_the_criterion(lower: float | None, upper: float | None, reason: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Criterion(lower, upper)
    assert raised.value.reason == reason


class TestOutOfTrend:
    """The regression control chart: one line through the historical batches (PhRMA 2003)."""

    NEW = results({"N": [(0, 101.0), (3, 99.0), (6, 93.0), (12, 96.0), (24, 94.5), (36, 98.0)]})

    def closed_form(self, history: list[Observation], t: float, alpha: float) -> tuple[float, ...]:
        """predicted +/- t(1 - alpha/2, n - 2) s sqrt(1 + 1/n + (t - mean)^2 / Sxx)."""
        x = np.array([o.time for o in history])
        y = np.array([o.value for o in history])
        b, a = np.polyfit(x, y, 1)
        n, m, sxx = len(x), x.mean(), ((x - x.mean()) ** 2).sum()
        s = math.sqrt(((y - (a + b * x)) ** 2).sum() / (n - 2))
        half = stats.t.ppf(1 - alpha / 2, n - 2) * s * math.sqrt(1 + 1 / n + (t - m) ** 2 / sxx)
        return a + b * t, a + b * t - half, a + b * t + half

    @pytest.mark.parametrize("alpha", [0.05, 0.01, 0.2])
    def test_limits_are_the_prediction_interval_for_one_new_result(self, alpha: float) -> None:
        check = check_trend(P609, self.NEW, alpha)
        for point in check.points:
            predicted, lower, upper = self.closed_form(P609, point.time, alpha)
            assert (point.predicted, point.lower, point.upper) == (
                pytest.approx(predicted, abs=1e-9),
                pytest.approx(lower, abs=1e-9),
                pytest.approx(upper, abs=1e-9),
            )
            assert point.oot is not (lower <= point.value <= upper)

    def test_points_keep_their_order_and_flag_only_the_outliers(self) -> None:
        check = check_trend(P609, self.NEW)
        assert check.alpha == 0.05
        assert [(p.batch, p.time, p.value) for p in check.points] == [
            (o.batch, o.time, o.value) for o in self.NEW
        ]
        assert [p.oot for p in check.points] == [False, False, True, False, False, True]

    def test_fit_is_the_pooled_least_squares_line(self) -> None:
        fit = check_trend(P609, self.NEW).fit
        assert (fit.intercept, fit.slope) == (
            pytest.approx(100.9272, abs=5e-5),  # the same line as Velagaleti p. 609's model 1
            pytest.approx(-0.2867, abs=5e-5),
        )
        assert fit.n == 21
        assert fit.s == pytest.approx(math.sqrt(45.733 / 19), abs=5e-4)  # stab: residual MS

    @pytest.mark.parametrize(
        ("history", "new", "alpha", "reason"),
        [
            (P602[:2], P602, 0.05, "stability.too_few_points"),
            (
                results({"A": [(6, 99.0), (6, 98.0), (6, 97.5)]}),
                P602,
                0.05,
                "stability.single_time",
            ),
            (P602, [], 0.05, "stability.no_new_results"),
            (P602, P602, 0.0, "stability.alpha_range"),
            (P602, P602, 1.0, "stability.alpha_range"),
            (P602, results({"N": [(-3, 99.0)]}), 0.05, "stability.time_negative"),
        ],
    )
    def test_rules(
        self, history: list[Observation], new: list[Observation], alpha: float, reason: str
    ) -> None:
        with pytest.raises(InvalidInput) as raised:
            check_trend(history, new, alpha)
        assert raised.value.reason == reason
