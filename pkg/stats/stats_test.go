package stats

import (
	"math"
	"testing"
)

// Reference values for the Wilson score interval without continuity
// correction ("method 3"), from R. G. Newcombe, "Two-sided confidence
// intervals for the single proportion: comparison of seven methods",
// Statistics in Medicine 17:857–872 (1998), Table II, given there to four
// decimals.
func TestWilsonAgainstNewcombe1998(t *testing.T) {
	cases := []struct{ x, n, low, high float64 }{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0.0000, 0.1611},
		{1, 29, 0.0061, 0.1718},
	}
	for _, c := range cases {
		low, high := Wilson(c.x, c.n)
		if math.Abs(low-c.low) > 5e-5 || math.Abs(high-c.high) > 5e-5 {
			t.Errorf("Wilson(%v/%v) = [%.5f, %.5f], Newcombe gives [%.4f, %.4f]", c.x, c.n, low, high, c.low, c.high)
		}
	}
	if l, h := Wilson(0, 0); !math.IsNaN(l) || !math.IsNaN(h) {
		t.Error("no trials must give NaN bounds")
	}
	if l, h := Wilson(10, 10); h != 1 || l <= 0.69 || l >= 0.73 {
		t.Errorf("10/10: [%v, %v]", l, h)
	}
}

// Reference: the example of statsmodels' proportions_ztest (two samples,
// pooled variance, two-sided): count = [5, 12], nobs = [83, 99] gives
// p-value 0.159 (statsmodels.stats.proportion.proportions_ztest docs);
// z = -1.4078 follows from the same inputs.
func TestTwoProportionAgainstStatsmodels(t *testing.T) {
	z, p := TwoProportion(5, 83, 12, 99)
	if math.Abs(p-0.159) > 5e-4 {
		t.Errorf("p = %.5f, statsmodels prints 0.159", p)
	}
	if math.Abs(z-(-1.4078)) > 5e-4 {
		t.Errorf("z = %.5f, want -1.4078", z)
	}
	if z, p := TwoProportion(0, 50, 0, 40); z != 0 || p != 1 {
		t.Errorf("no variance: z %v p %v", z, p)
	}
	if _, p := TwoProportion(1, 0, 1, 5); !math.IsNaN(p) {
		t.Error("empty sample must give NaN")
	}
}

func TestCompare(t *testing.T) {
	// Corpus numbers (fixtures README): v2 32/50 negative, v1 6/22.
	if _, _, v := Compare(32, 50, 6, 22); v != InsufficientData {
		t.Errorf("22 feedback events are below the minimum sample: %s", v)
	}
	delta, p, v := Compare(64, 100, 27, 100)
	if v != Regressed || p >= Alpha || math.Abs(delta-0.37) > 1e-12 {
		t.Errorf("64%% vs 27%% of 100: %s p=%v delta=%v", v, p, delta)
	}
	if _, _, v := Compare(10, 100, 30, 100); v != Improved {
		t.Errorf("10%% vs 30%%: %s", v)
	}
	if _, _, v := Compare(30, 100, 33, 100); v != NoChange {
		t.Errorf("30%% vs 33%%: %s", v)
	}
}
