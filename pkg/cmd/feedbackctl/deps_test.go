package main

import (
	"os/exec"
	"strings"
	"testing"
)

// feedbackctl reads through the Grafana-free read layer (pkg/read); linking
// Grafana's plugin SDK would mean that a data source package leaked into it.
func TestLinksNoGrafanaSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/feedbackloop/modelfeedback/pkg/cmd/feedbackctl").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list listed %d packages: %q", len(deps), out)
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/grafana/grafana-plugin-sdk-go") {
			t.Errorf("feedbackctl depends on %s", p)
		}
	}
}
