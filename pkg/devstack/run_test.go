package devstack_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/feedbackloop/modelfeedback/pkg/collector/config"
	"github.com/feedbackloop/modelfeedback/pkg/demo"
)

// scripts/run.sh in native mode, driven with the stand-ins of
// standin_test.go first on PATH and no Docker engine: what each binary was
// started with is compared with what docker-compose.yaml gives the same
// service, the real feedbackd and demo it builds must answer, and Ctrl-C
// must leave none of the processes it started.

func TestMain(m *testing.M) {
	if name := os.Getenv(standInAs); name != "" {
		os.Exit(runStandIn(name, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// The tools run.sh may use besides the stack's binaries; the PATH of a run
// holds only these and the stand-ins, so a dependency it grows shows here.
var scriptTools = []string{"bash", "env", "dirname", "realpath", "uname", "mkdir", "rm", "cp", "mv", "tail", "sleep", "cat", "go", "git"}

var portVars = []string{"GRAFANA_PORT", "LOKI_PORT", "LOKI_GRPC_PORT", "PROMETHEUS_PORT", "FEEDBACKD_PORT", "DEMO_PORT",
	"ELASTICSEARCH_PORT", "ELASTICSEARCH_TRANSPORT_PORT"}

type stackSetup struct {
	grafana        string // "grafana", "grafana-server" or "" for none
	loki           bool
	prometheus     bool
	realPrometheus bool // Debian's prometheus instead of the stand-in
	elasticsearch  bool
	dockerInfo     string // the stand-in docker's `docker info`: "ok" or "fail"
	env            map[string]string
	args           []string
}

type stack struct {
	t        *testing.T
	setup    stackSetup
	dir      string
	run      string // RUN_DIR
	rec      string // stand-in records
	home     string // the unpacked "Grafana release"
	dist     string // the already built plugin
	ports    map[string]int
	env      []string
	cmd      *exec.Cmd
	stdout   *lockedBuffer
	stderr   *lockedBuffer
	lines    chan string
	exited   chan struct{}
	exitCode int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newStack(t *testing.T, s stackSetup) *stack {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the processes run.sh starts are found through /proc")
	}
	dir := t.TempDir()
	st := &stack{t: t, setup: s, dir: dir, run: filepath.Join(dir, "state"), rec: filepath.Join(dir, "records"),
		home: filepath.Join(dir, "grafana-12.4.10"), dist: filepath.Join(dir, "dist"), ports: map[string]int{}}
	for _, d := range []string{st.rec, filepath.Join(dir, "tools"), filepath.Join(dir, "bin"), filepath.Join(st.home, "bin"), filepath.Join(st.home, "conf"), st.dist} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range scriptTools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("run.sh needs %s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, "tools", tool)); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bin")
	if s.grafana != "" {
		st.writeStandIn(filepath.Join(st.home, "bin"), s.grafana, nil)
		writeFile(t, filepath.Join(st.home, "conf", "defaults.ini"), "; the stand-in's home\n")
	}
	if s.loki {
		st.writeStandIn(bin, "loki", nil)
	}
	if s.prometheus {
		st.writeStandIn(bin, "prometheus", nil)
	}
	if s.realPrometheus {
		if err := os.Symlink(prometheusBinary(t), filepath.Join(bin, "prometheus")); err != nil {
			t.Fatal(err)
		}
	}
	if s.elasticsearch {
		st.writeStandIn(bin, "elasticsearch", nil)
	}
	st.writeStandIn(bin, "docker", map[string]string{standInDocker: s.dockerInfo})

	// The plugin as npm run build and mage leave it in dist/.
	writeFile(t, filepath.Join(st.dist, "plugin.json"), string(readFile(t, "src/plugin.json")))
	writeFile(t, filepath.Join(st.dist, "module.js"), "define([], function () { return {}; });\n")
	writeFile(t, filepath.Join(st.dist, "gpx_modelfeedback_linux_"+runtime.GOARCH), "#!/bin/sh\nexit 1\n")
	if err := os.Chmod(filepath.Join(st.dist, "gpx_modelfeedback_linux_"+runtime.GOARCH), 0o755); err != nil {
		t.Fatal(err)
	}

	// Distinct free ports: all held open together, then released.
	var held []net.Listener
	for _, v := range portVars {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		st.ports[v] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range held {
		l.Close()
	}

	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || strings.HasPrefix(k, "GF_") || strings.HasPrefix(k, "FEEDBACKD_") || strings.HasPrefix(k, "FEEDBACK_DEMO_") ||
			strings.HasPrefix(k, "ES_") || strings.HasPrefix(k, "STANDIN_") || strings.HasSuffix(k, "_PORT") ||
			contains([]string{"RUN_DIR", "GRAFANA_HOME", "SKIP_PLUGIN_BUILD", "SKIP_ELASTICSEARCH", "PLUGIN_DIST", "READY_TIMEOUT", "STOP_TIMEOUT"}, k) {
			continue
		}
		st.env = append(st.env, kv)
	}
	st.env = append(st.env, "PATH="+strings.Join([]string{bin, filepath.Join(st.home, "bin"), filepath.Join(dir, "tools")}, ":"),
		"RUN_DIR="+st.run, "SKIP_PLUGIN_BUILD=1", "PLUGIN_DIST="+st.dist,
		// feedbackd reads its environment too: the stand-ins refuse writes
		// to Elasticsearch, so do not wait 30 s for them at shutdown.
		"FEEDBACKD_SHUTDOWN_TIMEOUT=2s")
	for _, v := range portVars {
		st.env = append(st.env, fmt.Sprintf("%s=%d", v, st.ports[v]))
	}
	for k, v := range s.env {
		st.env = append(st.env, k+"="+v)
	}
	return st
}

// writeStandIn puts an executable NAME in dir that runs this test binary as
// that stand-in.
func (s *stack) writeStandIn(dir, name string, env map[string]string) string {
	s.t.Helper()
	self, err := os.Executable()
	if err != nil {
		s.t.Fatal(err)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		s.t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!%s\nexport %s=%s %s=%q", bash, standInAs, name, standInRecDir, s.rec)
	for k, v := range env {
		fmt.Fprintf(&b, " %s=%q", k, v)
	}
	fmt.Fprintf(&b, "\nexec %q \"$@\"\n", self)
	p := filepath.Join(dir, name)
	writeFile(s.t, p, b.String())
	if err := os.Chmod(p, 0o755); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *stack) port(v string) string { return strconv.Itoa(s.ports[v]) }

// start runs run.sh in its own process group, as a terminal would.
func (s *stack) start() {
	s.t.Helper()
	s.cmd = exec.Command(filepath.Join(root(), "scripts", "run.sh"), s.setup.args...)
	s.cmd.Dir = s.dir // the script must not depend on where it is started
	s.cmd.Env = s.env
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.stdout, s.stderr = &lockedBuffer{}, &lockedBuffer{}
	s.cmd.Stderr = s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.lines, s.exited = make(chan string, 1000), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.stdout.Write([]byte(sc.Text() + "\n"))
			s.lines <- sc.Text()
		}
		close(s.lines)
		err := s.cmd.Wait()
		s.exitCode = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.exitCode = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				s.exitCode = 128 + int(ws.Signal())
			}
		} else if err != nil {
			s.exitCode = -1
		}
		close(s.exited)
	}()
	pgid := s.cmd.Process.Pid
	s.t.Cleanup(func() {
		// Only when the test failed midway: nothing of this run may outlive it.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
		if s.t.Failed() {
			s.t.Logf("run.sh stdout:\n%s\nrun.sh stderr:\n%s", s.stdout, s.stderr)
			logs, _ := filepath.Glob(filepath.Join(s.run, "logs", "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				s.t.Logf("%s:\n%s", l, tail(string(b), 3000))
			}
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var urlLine = regexp.MustCompile(`^  (\S+)\s+(http://\S+|not running)$`)

// urls waits for the list of URLs run.sh prints once everything answers.
func (s *stack) urls() map[string]string {
	s.t.Helper()
	got := map[string]string{}
	timeout := time.After(10 * time.Minute) // go build on a busy machine; not an assertion
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				<-s.exited
				s.t.Fatalf("run.sh exited (status %d) before printing the URLs", s.exitCode)
			}
			if m := urlLine.FindStringSubmatch(l); m != nil {
				got[m[1]] = m[2]
			}
			if strings.HasPrefix(l, "State under ") {
				return got
			}
		case <-timeout:
			s.t.Fatal("run.sh printed no URLs within 10 minutes")
		}
	}
}

// interrupt sends SIGINT to the script alone (a harder case than the
// terminal's Ctrl-C, which signals the whole group) and waits for it.
func (s *stack) interrupt() int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		s.t.Fatal(err)
	}
	for range s.lines {
	}
	select {
	case <-s.exited:
	case <-time.After(3 * time.Minute):
		s.t.Fatal("run.sh did not exit within 3 minutes of SIGINT")
	}
	return s.exitCode
}

func (s *stack) record(name string) standInRecord {
	s.t.Helper()
	var r standInRecord
	b, err := os.ReadFile(filepath.Join(s.rec, name+".json"))
	if err != nil {
		s.t.Fatalf("%s was not started (or did not come up): %v", name, err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatal(err)
	}
	return r
}

func (s *stack) events(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.rec, name+".log"))
	return string(b)
}

// waitEvent waits until the stand-in logged a line containing want.
func (s *stack) waitEvent(name, want string) {
	s.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if strings.Contains(s.events(name), want) {
			return
		}
	}
	s.t.Fatalf("%s never saw %q; its log:\n%s", name, want, s.events(name))
}

// proc is a process found by its executable and, since other tests may run
// the same one, an argument naming this run's directory.
type proc struct {
	pid  int
	args []string
	env  map[string]string
}

func findProc(t *testing.T, exe, runDir string) proc {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var found []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || l != exe {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		p := proc{pid: pid, args: strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"), env: map[string]string{}}
		for _, kv := range strings.Split(string(environ), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				p.env[k] = v
			}
		}
		if strings.Contains(string(cmdline), runDir) {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d processes run %s with %s, want 1", len(found), exe, runDir)
	}
	return found[0]
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// native maps an address of the compose stack (service:port) to the one
// the native stack gives the same service.
func (s *stack) native(t *testing.T, hostport string) string {
	t.Helper()
	v, ok := map[string]string{
		"loki:3100": "LOKI_PORT", "elasticsearch:9200": "ELASTICSEARCH_PORT", "prometheus:9090": "PROMETHEUS_PORT",
		"feedbackd:8787": "FEEDBACKD_PORT", "feedback-demo:9464": "DEMO_PORT", "localhost:3000": "GRAFANA_PORT",
		"localhost:9090": "PROMETHEUS_PORT", "localhost:9464": "DEMO_PORT", "localhost:8787": "FEEDBACKD_PORT",
	}[hostport]
	if !ok {
		t.Fatalf("%s is not an address of the compose stack this test knows", hostport)
	}
	return "127.0.0.1:" + s.port(v)
}

func (s *stack) nativeURL(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = s.native(t, u.Host)
	return u.String()
}

func yamlMap(t *testing.T, where string, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return m
}

// at walks a decoded YAML value: map keys and list indexes.
func at(t *testing.T, v any, path ...any) map[string]any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not a mapping", path)
	}
	return m
}

func sameYAML(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("%s differs from the repository's file with the native addresses:\n--- got\n%s--- want\n%s", what, g, w)
	}
}

// checkLoki: run with the compose service's command, on the repository's
// loki.yaml with only the listen addresses and the paths changed.
func (s *stack) checkLoki(t *testing.T, c composeFile) {
	r := s.record("loki")
	cfgPath := filepath.Join(s.run, "loki", "loki.yaml")
	target := mountTarget(c.Services["loki"], "./deploy/loki/loki.yaml")
	var want []string
	for _, a := range c.Services["loki"].Command {
		want = append(want, strings.ReplaceAll(a, target, cfgPath))
	}
	if !reflect.DeepEqual(r.Args, want) {
		t.Errorf("loki args %q, want %q", r.Args, want)
	}
	exp := yamlMap(t, "deploy/loki/loki.yaml", readFile(t, "deploy/loki/loki.yaml"))
	server := at(t, exp, "server")
	server["http_listen_address"], server["http_listen_port"] = "127.0.0.1", s.ports["LOKI_PORT"]
	server["grpc_listen_address"], server["grpc_listen_port"] = "127.0.0.1", s.ports["LOKI_GRPC_PORT"]
	at(t, exp, "common")["path_prefix"] = filepath.Join(s.run, "loki")
	fsys := at(t, exp, "common", "storage", "filesystem")
	fsys["chunks_directory"], fsys["rules_directory"] = filepath.Join(s.run, "loki", "chunks"), filepath.Join(s.run, "loki", "rules")
	sameYAML(t, cfgPath, yamlMap(t, cfgPath, []byte(r.Files[cfgPath])), exp)
}

// checkPrometheus: the compose service's flags with native paths, and the
// repository's prometheus.yml scraping the native feedbackd and demo, which
// answered the stand-in's scrape.
func (s *stack) checkPrometheus(t *testing.T, c composeFile) {
	r := s.record("prometheus")
	cfgPath := filepath.Join(s.run, "prometheus", "prometheus.yml")
	want := []string{"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(s.run, "prometheus", "data"),
		"--web.listen-address=127.0.0.1:" + s.port("PROMETHEUS_PORT"), "--enable-feature=exemplar-storage"}
	if !reflect.DeepEqual(r.Args, want) {
		t.Errorf("prometheus args %q, want %q", r.Args, want)
	}
	for _, a := range c.Services["prometheus"].Command {
		name, _, _ := strings.Cut(a, "=")
		found := false
		for _, w := range want {
			found = found || strings.HasPrefix(w, name+"=")
		}
		if !found {
			t.Errorf("the compose service runs prometheus with %s, the native stack does not", name)
		}
	}
	exp := yamlMap(t, "deploy/prometheus/prometheus.yml", readFile(t, "deploy/prometheus/prometheus.yml"))
	for _, sc := range exp["scrape_configs"].([]any) {
		for _, stc := range sc.(map[string]any)["static_configs"].([]any) {
			targets := stc.(map[string]any)["targets"].([]any)
			for i, tg := range targets {
				targets[i] = s.native(t, tg.(string))
			}
		}
	}
	sameYAML(t, cfgPath, yamlMap(t, cfgPath, []byte(r.Files[cfgPath])), exp)
	for _, v := range []string{"FEEDBACKD_PORT", "DEMO_PORT", "PROMETHEUS_PORT"} {
		u := "http://127.0.0.1:" + s.port(v) + "/metrics"
		if r.Probes[u] != http.StatusOK {
			t.Errorf("scraping %s answered %d, want 200 (probes %v)", u, r.Probes[u], r.Probes)
		}
	}
	if len(r.Probes) != 3 {
		t.Errorf("prometheus scraped %v, want the three targets", r.Probes)
	}
}

// checkGrafana: the binary's command line, the ini carrying the compose
// service's environment, the provisioning of the repository with native
// URLs (reachable), the dashboards read from the checkout and the plugin
// copied from dist.
func (s *stack) checkGrafana(t *testing.T, c composeFile) {
	r := s.record(s.setup.grafana)
	ini := filepath.Join(s.run, "grafana", "grafana.ini")
	want := []string{"--homepath", s.home, "--config", ini}
	if s.setup.grafana == "grafana" {
		want = append([]string{"server"}, want...)
	}
	if !reflect.DeepEqual(r.Args, want) {
		t.Errorf("%s args %q, want %q", s.setup.grafana, r.Args, want)
	}
	cfg, err := parseINI(r.Files[ini])
	if err != nil {
		t.Fatal(err)
	}
	prov := filepath.Join(s.run, "grafana", "provisioning")
	plugins := filepath.Join(s.run, "grafana", "plugins")
	for _, kv := range [][3]string{
		{"server", "http_addr", "127.0.0.1"}, {"server", "http_port", s.port("GRAFANA_PORT")},
		{"paths", "data", filepath.Join(s.run, "grafana", "data")}, {"paths", "logs", filepath.Join(s.run, "grafana", "logs")},
		{"paths", "plugins", plugins}, {"paths", "provisioning", prov},
	} {
		if got := cfg[kv[0]][kv[1]]; got != kv[2] {
			t.Errorf("grafana.ini [%s] %s = %q, want %q", kv[0], kv[1], got, kv[2])
		}
	}
	// GF_<SECTION>_<KEY> is how Grafana maps its environment onto the ini.
	for env, v := range c.Services["grafana"].Environment {
		found := false
		for sec, keys := range cfg {
			for k, got := range keys {
				name := "GF_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(sec)+"_"+k)
				if name == env {
					found = true
					if got != v {
						t.Errorf("grafana.ini [%s] %s = %q; the compose service sets %s=%q", sec, k, got, env, v)
					}
				}
			}
		}
		if !found {
			t.Errorf("the compose service sets %s=%q; grafana.ini has no such key", env, v)
		}
	}

	dsPath := filepath.Join(prov, "datasources", "datasources.yml")
	exp := yamlMap(t, "provisioning/datasources/datasources.yml", readFile(t, "provisioning/datasources/datasources.yml"))
	js := at(t, exp, "datasources", 0, "jsonData")
	for _, src := range []string{"loki", "prometheus", "elasticsearch", "feedbackd"} {
		m := js[src].(map[string]any)
		m["url"] = s.nativeURL(t, m["url"].(string))
	}
	if !s.setup.elasticsearch || s.setup.env["SKIP_ELASTICSEARCH"] == "1" {
		delete(js, "elasticsearch")
	}
	sameYAML(t, dsPath, yamlMap(t, dsPath, []byte(r.Files[dsPath])), exp)
	wantProbes := map[string]int{"http://127.0.0.1:" + s.port("LOKI_PORT") + "/ready": 200, "http://127.0.0.1:" + s.port("PROMETHEUS_PORT") + "/-/ready": 200}
	if _, ok := js["elasticsearch"]; ok {
		wantProbes["http://127.0.0.1:"+s.port("ELASTICSEARCH_PORT")+"/"] = 200
	}
	if !reflect.DeepEqual(r.Probes, wantProbes) {
		t.Errorf("the provisioned data source's URLs answered %v, want %v", r.Probes, wantProbes)
	}

	dbPath := filepath.Join(prov, "dashboards", "dashboards.yml")
	exp = yamlMap(t, "provisioning/dashboards/dashboards.yml", readFile(t, "provisioning/dashboards/dashboards.yml"))
	checkout, err := filepath.EvalSymlinks(root())
	if err != nil {
		t.Fatal(err)
	}
	at(t, exp, "providers", 0, "options")["path"] = filepath.Join(checkout, "dashboards")
	sameYAML(t, dbPath, yamlMap(t, dbPath, []byte(r.Files[dbPath])), exp)

	rules, _ := filepath.Glob(filepath.Join(root(), "provisioning", "alerting", "*.yml"))
	if len(rules) == 0 {
		t.Fatal("no alert rules in provisioning/alerting")
	}
	for _, f := range rules {
		p := filepath.Join(prov, "alerting", filepath.Base(f))
		if r.Files[p] != string(readFile(t, filepath.Join("provisioning", "alerting", filepath.Base(f)))) {
			t.Errorf("%s is not a copy of provisioning/alerting/%s", p, filepath.Base(f))
		}
	}

	built, _ := os.ReadDir(s.dist)
	for _, e := range built {
		got, err := os.ReadFile(filepath.Join(plugins, pluginID, e.Name()))
		want, _ := os.ReadFile(filepath.Join(s.dist, e.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("the plugin folder does not hold dist/%s (%v)", e.Name(), err)
		}
	}
}

// checkElasticsearch: the compose service's settings as -E options, bound
// to 127.0.0.1, and feedbackd writing to it.
func (s *stack) checkElasticsearch(t *testing.T, c composeFile) {
	r := s.record("elasticsearch")
	es := filepath.Join(s.run, "elasticsearch")
	want := []string{"-Ediscovery.type=single-node", "-Expack.security.enabled=false", "-Enetwork.host=127.0.0.1",
		"-Ehttp.port=" + s.port("ELASTICSEARCH_PORT"), "-Etransport.port=" + s.port("ELASTICSEARCH_TRANSPORT_PORT"),
		"-Epath.data=" + filepath.Join(es, "data"), "-Epath.logs=" + filepath.Join(es, "logs")}
	if !reflect.DeepEqual(r.Args, want) {
		t.Errorf("elasticsearch args %q, want %q", r.Args, want)
	}
	for k, v := range c.Services["elasticsearch"].Environment {
		switch {
		case strings.Contains(k, "."):
			if !contains(r.Args, "-E"+k+"="+v) {
				t.Errorf("the compose service sets %s=%s, the native elasticsearch is not given it", k, v)
			}
		case r.Env[k] != v:
			t.Errorf("elasticsearch env %s=%q, the compose service sets %q", k, r.Env[k], v)
		}
	}
	s.waitEvent("elasticsearch", " /_index_template/")
}

// checkFeedbackd: the real binary, configured as the compose service with
// the native addresses, answering on its port.
func (s *stack) checkFeedbackd(t *testing.T, c composeFile, withES bool) {
	fdImage := parseDockerfile(t, "deploy/feedbackd.Dockerfile")
	composeEnv := c.Services["feedbackd"].env(&fdImage)
	// The compose service mounts deploy/feedbackd/feedbackd.yaml as its
	// config file; the native one must be that file with the native
	// addresses of the compose hosts it names.
	if composeEnv["FEEDBACKD_CONFIG"] != "/etc/feedbackd/feedbackd.yaml" {
		t.Fatalf("FEEDBACKD_CONFIG %q: this test knows the mount of deploy/feedbackd/feedbackd.yaml", composeEnv["FEEDBACKD_CONFIG"])
	}
	file, err := os.ReadFile(filepath.Join(root(), "deploy", "feedbackd", "feedbackd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	nativeFile := filepath.Join(t.TempDir(), "feedbackd.yaml")
	text := strings.ReplaceAll(string(file), "http://feedback-demo:9464", s.nativeURL(t, "http://feedback-demo:9464"))
	if err := os.WriteFile(nativeFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	composeEnv["FEEDBACKD_CONFIG"] = nativeFile
	want, err := config.Load(nil, func(k string) string { return composeEnv[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want.Listen = "127.0.0.1:" + s.port("FEEDBACKD_PORT")
	want.SpoolDir = filepath.Join(s.run, "feedbackd", "spool")
	want.LokiURL = s.nativeURL(t, want.LokiURL)
	if want.EscalateURL != "" {
		want.EscalateURL = s.nativeURL(t, want.EscalateURL)
	}
	for i, o := range want.CORSOrigins {
		want.CORSOrigins[i] = s.nativeURL(t, o)
	}
	want.NotifyURL = s.nativeURL(t, want.NotifyURL)
	want.GrafanaURL = s.nativeURL(t, want.GrafanaURL)
	want.ShutdownTimeout = 2 * time.Second // FEEDBACKD_SHUTDOWN_TIMEOUT of the test's environment
	if withES {
		want.ElasticsearchURL = s.nativeURL(t, want.ElasticsearchURL)
	} else {
		want.ElasticsearchURL, want.NotifySource = "", "loki"
	}
	p := findProc(t, filepath.Join(s.run, "bin", "feedbackd"), s.run)
	got, err := config.Load(p.args[1:], func(k string) string { return p.env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("feedbackd %q: %v", p.args, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("feedbackd runs with\n%+v\nwant\n%+v", *got, *want)
	}
	if code, body := httpGet(t, "http://127.0.0.1:"+s.port("FEEDBACKD_PORT")+"/healthz"); code != 200 {
		t.Errorf("feedbackd /healthz: %d %s", code, body)
	}
}

func (s *stack) checkDemo(t *testing.T, c composeFile) {
	dmImage := parseDockerfile(t, "deploy/feedback-demo.Dockerfile")
	composeEnv := c.Services["feedback-demo"].env(&dmImage)
	want, err := demo.ParseOptions(nil, func(k string) string { return composeEnv[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want.FeedbackdURL = s.nativeURL(t, want.FeedbackdURL)
	want.LokiURL = s.nativeURL(t, want.LokiURL)
	want.Listen = "127.0.0.1:" + s.port("DEMO_PORT")
	want.WidgetEndpoint = s.nativeURL(t, want.WidgetEndpoint)
	p := findProc(t, filepath.Join(s.run, "bin", "feedback-demo"), s.run)
	got, err := demo.ParseOptions(p.args[1:], func(k string) string { return p.env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("feedback-demo %q: %v", p.args, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("feedback-demo runs with\n%+v\nwant\n%+v", got, want)
	}
	if code, body := httpGet(t, "http://127.0.0.1:"+s.port("DEMO_PORT")+"/metrics"); code != 200 || !strings.Contains(body, "llm_requests_total") {
		t.Errorf("feedback-demo /metrics: %d %.200s", code, body)
	}
}

func (s *stack) checkURLs(t *testing.T, got map[string]string, withES bool) {
	want := map[string]string{
		"Grafana":       "http://127.0.0.1:" + s.port("GRAFANA_PORT"),
		"feedbackd":     "http://127.0.0.1:" + s.port("FEEDBACKD_PORT"),
		"feedback-demo": "http://127.0.0.1:" + s.port("DEMO_PORT") + "/metrics",
		"chat":          "http://127.0.0.1:" + s.port("DEMO_PORT") + "/",
		"Loki":          "http://127.0.0.1:" + s.port("LOKI_PORT"),
		"Prometheus":    "http://127.0.0.1:" + s.port("PROMETHEUS_PORT"),
		"Elasticsearch": "not running",
	}
	if withES {
		want["Elasticsearch"] = "http://127.0.0.1:" + s.port("ELASTICSEARCH_PORT")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("run.sh printed %v, want %v", got, want)
	}
}

// stopAndCheck interrupts the script and checks that every process it
// started is gone, stopped by SIGTERM, and that the script's process group
// is empty.
func (s *stack) stopAndCheck(t *testing.T, standIns []string) {
	var pids []int
	for _, n := range standIns {
		pids = append(pids, s.record(n).PID)
	}
	pids = append(pids, findProc(t, filepath.Join(s.run, "bin", "feedbackd"), s.run).pid,
		findProc(t, filepath.Join(s.run, "bin", "feedback-demo"), s.run).pid)
	if code := s.interrupt(); code != 130 {
		t.Errorf("run.sh exited %d after SIGINT, want 130", code)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d outlived run.sh", pid)
		}
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("run.sh's process group still has processes (kill -0: %v)", err)
	}
	for _, n := range standIns {
		if ev := s.events(n); !strings.Contains(ev, "stopped by terminated") {
			t.Errorf("%s was not stopped by SIGTERM; its log:\n%s", n, ev)
		}
	}
	if out := s.stdout.String(); !strings.Contains(out, "SIGINT: stopping the stack") {
		t.Errorf("run.sh did not say it was stopping:\n%s", out)
	}
}

// startDecoy runs a prometheus of someone else's, outside run.sh: it must
// survive the script's Ctrl-C.
func (s *stack) startDecoy(t *testing.T) int {
	dir := filepath.Join(s.dir, "decoy")
	rec := filepath.Join(dir, "records")
	for _, d := range []string{rec, filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "prometheus.yml"), "scrape_configs: []\n")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	self, _ := os.Executable()
	cmd := exec.Command(self, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Env = append(os.Environ(), standInAs+"=prometheus", standInRecDir+"="+rec)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the decoy prometheus did not come up")
		}
	}
	return cmd.Process.Pid
}

// The whole stack, with the new single grafana binary and Elasticsearch.
func TestRunNative(t *testing.T) {
	s := newStack(t, stackSetup{grafana: "grafana", loki: true, prometheus: true, elasticsearch: true, dockerInfo: "fail"})
	decoy := s.startDecoy(t)
	s.start()
	urls := s.urls()
	c := loadCompose(t)
	s.checkURLs(t, urls, true)
	if ev := s.events("docker"); ev != "docker info\n" {
		t.Errorf("docker was called as:\n%s\nwant only docker info", ev)
	}
	if out := s.stdout.String(); !strings.Contains(out, "docker is installed but its engine does not answer") {
		t.Errorf("run.sh did not say why it runs natively:\n%s", out)
	}
	s.checkLoki(t, c)
	s.checkElasticsearch(t, c)
	s.checkPrometheus(t, c)
	s.checkGrafana(t, c)
	s.checkFeedbackd(t, c, true)
	s.checkDemo(t, c)
	s.waitEvent("loki", "push ")
	s.stopAndCheck(t, []string{"loki", "elasticsearch", "prometheus", "grafana"})
	if !alive(decoy) {
		t.Error("run.sh stopped a prometheus it did not start")
	}
}

// grafana-server (the older binary) and no elasticsearch on PATH: the data
// source and feedbackd then do without it.
func TestRunNativeGrafanaServerWithoutElasticsearch(t *testing.T) {
	s := newStack(t, stackSetup{grafana: "grafana-server", loki: true, prometheus: true, dockerInfo: "fail"})
	s.start()
	urls := s.urls()
	c := loadCompose(t)
	s.checkURLs(t, urls, false)
	if out := s.stdout.String(); !strings.Contains(out, "elasticsearch is not on PATH: running without Elasticsearch") ||
		!strings.Contains(out, "https://www.elastic.co/downloads/elasticsearch") {
		t.Errorf("run.sh did not say Elasticsearch is skipped:\n%s", out)
	}
	s.checkLoki(t, c)
	s.checkPrometheus(t, c)
	s.checkGrafana(t, c)
	s.checkFeedbackd(t, c, false)
	s.checkDemo(t, c)
	s.stopAndCheck(t, []string{"loki", "prometheus", "grafana-server"})
}

// Debian's prometheus really runs on the generated config and scrapes the
// native feedbackd and demo; SKIP_ELASTICSEARCH leaves out the
// elasticsearch that is on PATH.
func TestRunNativeRealPrometheus(t *testing.T) {
	s := newStack(t, stackSetup{grafana: "grafana", loki: true, realPrometheus: true, elasticsearch: true, dockerInfo: "fail",
		env: map[string]string{"SKIP_ELASTICSEARCH": "1"}})
	s.start()
	urls := s.urls()
	s.checkURLs(t, urls, false)
	if _, err := os.Stat(filepath.Join(s.rec, "elasticsearch.json")); err == nil {
		t.Error("SKIP_ELASTICSEARCH=1 and elasticsearch was started")
	}
	prom := "http://127.0.0.1:" + s.port("PROMETHEUS_PORT")
	want := map[string]string{
		"feedbackd":     "127.0.0.1:" + s.port("FEEDBACKD_PORT"),
		"feedback-demo": "127.0.0.1:" + s.port("DEMO_PORT"),
		"prometheus":    "127.0.0.1:" + s.port("PROMETHEUS_PORT"),
	}
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	// The first scrape comes within one scrape_interval (15 s); this only
	// bounds the wait.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		_, body := httpGet(t, prom+"/api/v1/targets")
		if err := json.Unmarshal([]byte(body), &targets); err != nil {
			t.Fatalf("/api/v1/targets: %v: %s", err, body)
		}
		up := map[string]string{}
		for _, tg := range targets.Data.ActiveTargets {
			if tg.Health == "up" {
				up[tg.Labels["job"]] = tg.Labels["instance"]
			}
		}
		if reflect.DeepEqual(up, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus targets %+v, want up: %v", targets.Data.ActiveTargets, want)
		}
	}
	// feedbackd's own counters, scraped from the native feedbackd.
	_, body := httpGet(t, prom+"/api/v1/query?query="+url.QueryEscape(`count({job="feedbackd",__name__=~"feedbackd_.+"})`))
	var vec promVector
	if err := json.Unmarshal([]byte(body), &vec); err != nil || vec.Status != "success" || len(vec.Data.Result) != 1 {
		t.Fatalf("query of feedbackd's metrics: %s", body)
	}
	if n, _ := strconv.Atoi(fmt.Sprint(vec.Data.Result[0].Value[1])); n == 0 {
		t.Errorf("no feedbackd_ series scraped: %s", body)
	}
	p := findProc(t, prometheusBinary(t), s.run)
	s.stopAndCheck(t, []string{"loki", "grafana"})
	if alive(p.pid) {
		t.Errorf("prometheus (pid %d) outlived run.sh", p.pid)
	}
}

// A missing binary stops the script before anything starts, naming it and
// where to get it.
func TestRunNativeMissingBinary(t *testing.T) {
	for _, tc := range []struct {
		name       string
		setup      stackSetup
		named, not []string
	}{
		{"loki", stackSetup{grafana: "grafana", prometheus: true, elasticsearch: true, dockerInfo: "fail"},
			[]string{"  - loki: Loki 3.5", "https://github.com/grafana/loki/releases"},
			[]string{"grafana (or grafana-server):", "prometheus:", "elasticsearch"}},
		{"all", stackSetup{dockerInfo: "fail"},
			[]string{"  - grafana (or grafana-server):", "https://grafana.com/grafana/download", "  - loki:", "https://github.com/grafana/loki/releases",
				"  - prometheus:", "apt-get install prometheus"},
			[]string{"elasticsearch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, tc.setup)
			s.start()
			for range s.lines {
			}
			<-s.exited
			if s.exitCode != 1 {
				t.Errorf("run.sh exited %d, want 1", s.exitCode)
			}
			errOut := s.stderr.String()
			for _, w := range tc.named {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not name %q:\n%s", w, errOut)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(errOut, w) {
					t.Errorf("stderr names %q, which is there or optional:\n%s", w, errOut)
				}
			}
			if _, err := os.Stat(s.run); err == nil {
				t.Errorf("run.sh wrote %s although it could not start", s.run)
			}
			if recs, _ := filepath.Glob(filepath.Join(s.rec, "*.json")); len(recs) > 0 {
				t.Errorf("run.sh started %v although it could not start the stack", recs)
			}
		})
	}
}

// A port that something already answers on would pass the readiness
// checks: the script refuses it, naming the variable, and starts nothing.
func TestRunNativePortInUse(t *testing.T) {
	s := newStack(t, stackSetup{grafana: "grafana", loki: true, prometheus: true, dockerInfo: "fail"})
	l, err := net.Listen("tcp", "127.0.0.1:"+s.port("PROMETHEUS_PORT"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s.start()
	for range s.lines {
	}
	<-s.exited
	if s.exitCode != 1 {
		t.Errorf("run.sh exited %d, want 1", s.exitCode)
	}
	if want := "port " + s.port("PROMETHEUS_PORT") + " (PROMETHEUS_PORT) is in use on 127.0.0.1"; !strings.Contains(s.stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, s.stderr)
	}
	if recs, _ := filepath.Glob(filepath.Join(s.rec, "*.json")); len(recs) > 0 {
		t.Errorf("run.sh started %v", recs)
	}
}

// With a Docker engine it is docker compose up --build, with the
// arguments given after the script's own flags.
func TestRunDocker(t *testing.T) {
	s := newStack(t, stackSetup{grafana: "grafana", loki: true, prometheus: true, dockerInfo: "ok",
		args: []string{"--skip-plugin-build", "-d", "grafana"}})
	s.start()
	for range s.lines {
	}
	<-s.exited
	if s.exitCode != 0 {
		t.Errorf("run.sh exited %d: %s", s.exitCode, s.stderr)
	}
	if ev := s.events("docker"); ev != "docker info\ndocker compose up --build -d grafana\n" {
		t.Errorf("docker was called as:\n%s", ev)
	}
	if recs, _ := filepath.Glob(filepath.Join(s.rec, "*.json")); len(recs) > 0 {
		t.Errorf("with Docker, run.sh also started %v", recs)
	}
}

// prometheusBinary is Debian's prometheus (scripts/test.sh installs it).
func prometheusBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/prometheus"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
	}
	t.Fatal("this test needs Debian's prometheus: apt-get install -y prometheus")
	return ""
}

type promVector struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}
