package read

import (
	"os/exec"
	"strings"
	"testing"
)

// feedbackd and feedbackctl read through this layer; linking Grafana's
// plugin SDK would mean that a data source package leaked into them.
func TestCommandsLinkNoGrafanaSDK(t *testing.T) {
	for _, cmd := range []string{"feedbackd", "feedbackctl"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/feedbackloop/modelfeedback/pkg/cmd/"+cmd).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", cmd, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list listed %d packages for %s: %q", len(deps), cmd, out)
		}
		for _, p := range deps {
			if strings.HasPrefix(p, "github.com/grafana/grafana-plugin-sdk-go") {
				t.Errorf("%s depends on %s", cmd, p)
			}
		}
	}
}
