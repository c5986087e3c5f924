// Package feedbackdtest builds and runs the real feedbackd binary, for the
// tests that need it as a process: the crash test and the demo's end-to-end
// test.
package feedbackdtest

import (
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// FreeAddr is a loopback address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Build compiles feedbackd into a temporary directory and returns its path.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "feedbackd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/feedbackloop/modelfeedback/pkg/cmd/feedbackd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build feedbackd: %v\n%s", err, out)
	}
	return bin
}

// Daemon is one running feedbackd.
type Daemon struct {
	Cmd *exec.Cmd
	// Base is the API's base URL.
	Base string
	// Log is what the process wrote; read it once the process has exited.
	Log *bytes.Buffer
}

// Start runs bin on a free loopback port with the given options (after
// --log-level warn, so they may override it) and returns once /healthz
// answers. When the test ends the process is killed, and its log is shown if
// the test failed.
func Start(t testing.TB, bin string, args ...string) *Daemon {
	t.Helper()
	addr := FreeAddr(t)
	d := &Daemon{Base: "http://" + addr, Log: &bytes.Buffer{}}
	d.Cmd = exec.Command(bin, append([]string{"--listen", addr, "--log-level", "warn"}, args...)...)
	d.Cmd.Stdout, d.Cmd.Stderr = d.Log, d.Log
	if err := d.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The test may have stopped it already; then these only return errors.
		_ = d.Cmd.Process.Kill()
		_ = d.Cmd.Wait()
		if t.Failed() {
			t.Logf("feedbackd log:\n%s", d.Log)
		}
	})
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(d.Base + "/healthz"); err == nil {
			resp.Body.Close()
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("feedbackd did not come up within 15 s")
	return nil
}
