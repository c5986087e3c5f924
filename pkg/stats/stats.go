// Package stats holds the statistics behind version verdicts: the Wilson
// score interval for a negative-feedback rate and the two-proportion z-test
// of a version against its baseline.
package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// z95 is the two-sided 95 % normal quantile (1.959963984540054).
var z95 = distuv.UnitNormal.Quantile(0.975)

// Wilson returns the 95 % Wilson score interval for x successes in n trials
// (Wilson 1927; no continuity correction). It stays inside [0, 1] and is
// sensible for small n and for rates of 0 or 1, unlike the normal
// approximation. n = 0 gives NaN bounds.
func Wilson(x, n float64) (low, high float64) {
	if n <= 0 {
		return math.NaN(), math.NaN()
	}
	p := x / n
	z2 := z95 * z95
	den := 1 + z2/n
	centre := (p + z2/(2*n)) / den
	half := z95 * math.Sqrt(p*(1-p)/n+z2/(4*n*n)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// TwoProportion is the pooled two-proportion z-test of x1/n1 against x2/n2;
// it returns z (positive when the first rate is higher) and the two-sided
// p-value. Without variance (both rates 0 or both 1) there is no evidence
// of a difference: z 0, p 1. An empty sample gives NaN.
func TwoProportion(x1, n1, x2, n2 float64) (z, p float64) {
	if n1 <= 0 || n2 <= 0 {
		return math.NaN(), math.NaN()
	}
	pooled := (x1 + x2) / (n1 + n2)
	se := math.Sqrt(pooled * (1 - pooled) * (1/n1 + 1/n2))
	if se == 0 {
		return 0, 1
	}
	z = (x1/n1 - x2/n2) / se
	return z, 2 * distuv.UnitNormal.Survival(math.Abs(z))
}

// Verdict thresholds, documented in docs/query-types/versions.md.
const (
	// MinSample is the least feedback a version and its baseline each need
	// before a verdict is given: below it the normal approximation of the
	// z-test is poor and a handful of thumbs-down would swing the result.
	MinSample = 30
	// Alpha is the significance level of the two-sided test.
	Alpha = 0.05
)

// Verdict values (docs/queries.md).
const (
	Regressed        = "regressed"
	Improved         = "improved"
	NoChange         = "no_change"
	InsufficientData = "insufficient_data"
)

// Compare judges a version's negative rate (neg/n) against the baseline's.
func Compare(neg, n, baseNeg, baseN float64) (delta, p float64, verdict string) {
	if n < MinSample || baseN < MinSample {
		delta = math.NaN()
		if n > 0 && baseN > 0 {
			delta = neg/n - baseNeg/baseN
		}
		_, p = TwoProportion(neg, n, baseNeg, baseN)
		return delta, p, InsufficientData
	}
	delta = neg/n - baseNeg/baseN
	_, p = TwoProportion(neg, n, baseNeg, baseN)
	switch {
	case p < Alpha && delta > 0:
		return delta, p, Regressed
	case p < Alpha && delta < 0:
		return delta, p, Improved
	}
	return delta, p, NoChange
}
