import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from kit.format import roas as format_roas
from kit.stats import CORRECTIONS, adjust_pvalues, wilson_interval


@pytest.mark.parametrize("correction", sorted(c for c in CORRECTIONS if c != "none"))
def test_corrections_match_statsmodels(correction):
    rng = np.random.default_rng(1)
    for _ in range(50):
        p = np.concatenate([rng.uniform(size=20), rng.uniform(0, 0.01, size=5), [0.03, 0.03]])
        expected = multipletests(p, method=CORRECTIONS[correction])[1]
        np.testing.assert_allclose(adjust_pvalues(p, correction), expected, rtol=1e-12)


def test_nans_stay_out_of_the_family_and_none_is_identity():
    p = np.array([0.01, np.nan, 0.04])
    got = adjust_pvalues(p, "bonferroni")
    assert np.isnan(got[1]) and got[0] == pytest.approx(0.02) and got[2] == pytest.approx(0.08)
    np.testing.assert_array_equal(adjust_pvalues(p, "none"), p)
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_pvalues(p, "tukey")


# statsmodels' own Wilson formula takes the square root of a rounding-level negative at k = n
# (the reason kit clips its ends); its warning is not ours.
@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
def test_wilson_matches_statsmodels_and_stays_in_unit_interval():
    k, n = np.array([0, 3, 7, 9, 12, 50]), np.array([7, 10, 7, 9, 12, 0])
    low, high = wilson_interval(k, n)
    ref_low, ref_high = proportion_confint(k[:5], n[:5], method="wilson")
    np.testing.assert_allclose(low[:5], ref_low, atol=1e-12)
    np.testing.assert_allclose(high[:5], ref_high, atol=1e-12)
    assert (high[2:5] == 1.0).all() and low[0] == 0.0
    assert np.isnan(low[5]) and np.isnan(high[5])


def test_format_roas():
    assert format_roas(3.5) == "3.5:1" and format_roas(4.24, 2) == "4.24:1" and format_roas(float("nan")) == "–"
