package prom

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/prom/promtest"
)

func TestExpand(t *testing.T) {
	tpl := `sum by (model_version) (increase(llm_requests_total{model_id=~"$model_id",model_version=~"${model_version}"}[$__range])) / $__interval / $__rate_interval`
	got := Expand(tpl, Vars{Range: 6 * time.Hour, Interval: 30 * time.Second, ModelIDs: []string{"support-bot"}, ModelVersions: []string{"2026-11-01.1", "2026-11-10.2"}})
	want := `sum by (model_version) (increase(llm_requests_total{model_id=~"support-bot",model_version=~"2026-11-01\\.1|2026-11-10\\.2"}[6h])) / 30s / 2m`
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	if got := Expand(`x{model_id=~"$model_id"}`, Vars{Range: time.Hour}); got != `x{model_id=~".+"}` {
		t.Fatalf("unrestricted: %s", got)
	}
	// A =~ filter's regex is kept as a regex; a value is quoted.
	got = Expand(`x{model_version=~"$model_version"}`, Vars{Range: time.Hour, ModelVersions: []string{"v1.0"}, ModelVersionPatterns: []string{`2026-11-(10|24)\..*`}})
	if got != `x{model_version=~"v1\\.0|(?:2026-11-(10|24)\\..*)"}` {
		t.Fatalf("patterns: %s", got)
	}
}

// A hostile value stays the content of the label matcher's string: the
// expanded query still has exactly one string literal, and unquoting it
// gives the regex that matches only the value itself.
func TestExpandEscapesHostileValues(t *testing.T) {
	for _, v := range []string{`a"}) or vector(1) #`, `back\slash`, "new\nline", `.*`, "`tick`"} {
		got := Expand(`x{model_version=~"$model_version"}`, Vars{Range: time.Hour, ModelVersions: []string{v}})
		lit := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).FindAllString(got, -1)
		if len(lit) != 1 || !strings.HasPrefix(got, `x{model_version=~"`) || !strings.HasSuffix(got, `"}`) {
			t.Errorf("%q broke the matcher: %s", v, got)
			continue
		}
		re, err := strconv.Unquote(lit[0])
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile("^(?:"+re+")$").MatchString(v) || (v != ".*" && regexp.MustCompile("^(?:"+re+")$").MatchString("other")) {
			t.Errorf("%q: regex %q does not match exactly the value", v, re)
		}
	}
}

func TestTemplatesAreChecked(t *testing.T) {
	bad := map[string]string{
		`sum(x{a="$foo"})`:                        "unknown variable $foo",
		`sum by (model_version) ($model_version)`: "inside a quoted label matcher",
		`x{model_id=~$model_id}`:                  "inside a quoted label matcher",
	}
	for tpl, msg := range bad {
		_, err := New(models.Prometheus{URL: "http://127.0.0.1:9", RequestsQuery: tpl})
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "prometheus.requestsQuery") {
			t.Errorf("%s: %v", tpl, err)
		}
	}
	if _, err := New(models.Prometheus{}); err == nil || !strings.Contains(err.Error(), "prometheus.url") {
		t.Errorf("no URL: %v", err)
	}
}

func TestHealthAgainstRealPrometheus(t *testing.T) {
	now := time.Now().Truncate(time.Minute)
	srv := promtest.Start(t, []promtest.Series{
		promtest.Counter("llm_requests_total", map[string]string{"model_version": "v1"}, now.Add(-3*time.Hour), now.Add(-2*time.Hour), 15*time.Second, 1),
	})
	c, err := New(models.Prometheus{URL: srv.URL, RequestsQuery: models.DefaultRequestsQuery})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.CheckHealth(context.Background())
	if err != nil || !strings.Contains(msg, "found no requests in the last hour") {
		t.Fatalf("%q %v", msg, err)
	}
	broken, _ := New(models.Prometheus{URL: srv.URL, RequestsQuery: "sum by (model_version) (increase(llm_requests_total[$__range])"})
	if _, err := broken.CheckHealth(context.Background()); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Fatalf("a broken template must fail the health check with Prometheus' message: %v", err)
	}
	down, _ := New(models.Prometheus{URL: "http://127.0.0.1:1", RequestsQuery: models.DefaultRequestsQuery})
	if _, err := down.CheckHealth(context.Background()); err == nil {
		t.Fatal("unreachable Prometheus passed")
	}
}
