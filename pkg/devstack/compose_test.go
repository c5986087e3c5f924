package devstack_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/feedbackloop/modelfeedback/pkg/collector/config"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/jira"
	"github.com/feedbackloop/modelfeedback/pkg/demo"
)

// The dev stack cannot be started where these tests run (no Docker engine),
// so docker-compose.yaml and everything it builds and mounts is checked as
// text: that every path exists, every reference resolves and the services
// are wired to each other on the ports they really listen on.

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   []string          `yaml:"depends_on"`
	Restart     string            `yaml:"restart"`
}

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "docker-compose.yaml")))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yaml: %v (the test knows the keys the dev stack uses; add a new one to composeService)", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yaml has no services")
	}
	return c
}

// dockerfile is what a Dockerfile declares, for the checks.
type dockerfile struct {
	stages []string
	froms  []string
	copies []string          // --from= stages
	env    map[string]string // ENV of the last stage
	runs   []string
}

var (
	fromRe  = regexp.MustCompile(`(?i)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`)
	copyRe  = regexp.MustCompile(`(?i)^COPY\s+.*--from=(\S+)`)
	envKVRe = regexp.MustCompile(`([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)`)
)

func parseDockerfile(t *testing.T, rel string) dockerfile {
	t.Helper()
	d := dockerfile{env: map[string]string{}}
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, rel)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`) + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	for _, l := range lines {
		switch {
		case fromRe.MatchString(l):
			m := fromRe.FindStringSubmatch(l)
			d.froms = append(d.froms, m[1])
			d.stages = append(d.stages, m[2])
			d.env = map[string]string{}
		case copyRe.MatchString(l):
			d.copies = append(d.copies, copyRe.FindStringSubmatch(l)[1])
		case strings.HasPrefix(strings.ToUpper(l), "ENV "):
			for _, m := range envKVRe.FindAllStringSubmatch(l[4:], -1) {
				d.env[m[1]] = strings.Trim(m[2], `"`)
			}
		case strings.HasPrefix(strings.ToUpper(l), "RUN "):
			d.runs = append(d.runs, l[4:])
		}
	}
	return d
}

// env is a service's environment as the process sees it: the image's ENV,
// overridden by the compose file.
func (s composeService) env(d *dockerfile) map[string]string {
	out := map[string]string{}
	if d != nil {
		for k, v := range d.env {
			out[k] = v
		}
	}
	for k, v := range s.Environment {
		out[k] = v
	}
	return out
}

func listenPort(t *testing.T, where, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: listen address %q: %v", where, addr, err)
	}
	return port
}

func TestComposeFileIsComplete(t *testing.T) {
	c := loadCompose(t)
	for _, want := range []string{"grafana", "feedbackd", "feedback-demo", "loki", "elasticsearch", "prometheus"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s is missing", want)
		}
	}
	for name, s := range c.Services {
		switch {
		case s.Build != nil:
			ctx := filepath.Join(root(), s.Build.Context)
			if st, err := os.Stat(ctx); err != nil || !st.IsDir() {
				t.Errorf("%s: build context %q is not a directory", name, s.Build.Context)
				continue
			}
			rel, _ := filepath.Rel(root(), filepath.Join(ctx, s.Build.Dockerfile))
			d := parseDockerfile(t, rel)
			stages := map[string]bool{}
			for _, st := range d.stages {
				stages[st] = true
			}
			for _, from := range d.copies {
				if !stages[from] {
					t.Errorf("%s: %s copies from stage %q, which it does not define", name, rel, from)
				}
			}
			for _, run := range d.runs {
				for _, pkg := range regexp.MustCompile(`\./pkg/cmd/[a-z-]+`).FindAllString(run, -1) {
					if _, err := os.Stat(filepath.Join(root(), pkg, "main.go")); err != nil {
						t.Errorf("%s: %s builds %s, which has no main.go", name, rel, pkg)
					}
				}
			}
			for arg := range s.Build.Args {
				if !strings.Contains(string(readFile(t, rel)), "ARG "+arg) {
					t.Errorf("%s: build arg %s is not declared in %s", name, arg, rel)
				}
			}
		case s.Image != "":
			if !strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest") {
				t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
			}
		default:
			t.Errorf("%s: neither build nor image", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(root(), src)); err != nil {
					t.Errorf("%s: mounts %s, which is not in the repository", name, src)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: named volume %q is not declared under volumes:", name, src)
			}
		}
		for _, dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s: depends on unknown service %q", name, dep)
			}
		}
		for _, p := range s.Ports {
			if !regexp.MustCompile(`^\d+:\d+(/tcp)?$`).MatchString(p) {
				t.Errorf("%s: port %q is not host:container", name, p)
			}
		}
	}
	// Every ignored path must not be one the images need.
	ignore := string(readFile(t, ".dockerignore"))
	for _, need := range []string{"pkg", "src", "dashboards", "deploy", ".config", "go.mod", "package-lock.json"} {
		for _, line := range strings.Split(ignore, "\n") {
			if strings.TrimSpace(line) == need {
				t.Errorf(".dockerignore excludes %s, which the images build from", need)
			}
		}
	}
}

// mountTarget returns where a service mounts a repository path.
func mountTarget(s composeService, src string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && filepath.Clean(parts[0]) == filepath.Clean(src) {
			return parts[1]
		}
	}
	return ""
}

// mountSource is the host path mounted at target in s.
func mountSource(s composeService, target string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0]
		}
	}
	return ""
}

// hostPort checks that a URL points at a compose service on the port that
// service listens on.
func hostPort(t *testing.T, where, raw string, ports map[string]string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Errorf("%s: %q is not a URL", where, raw)
		return
	}
	want, ok := ports[u.Hostname()]
	if !ok {
		t.Errorf("%s: %s is not a compose service", where, u.Hostname())
		return
	}
	if u.Port() != want {
		t.Errorf("%s: %s uses port %s; the service listens on %s", where, raw, u.Port(), want)
	}
}

// The services reach each other: each URL one service is given names a
// compose service and the port that service listens on (from its own
// configuration, not from the compose file's port mappings).
func TestComposeServicesAreWired(t *testing.T) {
	c := loadCompose(t)
	images := map[string]*dockerfile{}
	for name, s := range c.Services {
		if s.Build != nil {
			rel, _ := filepath.Rel(root(), filepath.Join(root(), s.Build.Context, s.Build.Dockerfile))
			d := parseDockerfile(t, rel)
			images[name] = &d
		}
	}
	ports := map[string]string{}

	// feedbackd: its own configuration loader reads the environment.
	fd := c.Services["feedbackd"]
	fdEnv := fd.env(images["feedbackd"])
	// FEEDBACKD_CONFIG names the mounted file; read the repository's.
	if p := fdEnv["FEEDBACKD_CONFIG"]; p != "" {
		src := mountSource(fd, p)
		if src == "" {
			t.Fatalf("FEEDBACKD_CONFIG is %s, which is not mounted", p)
		}
		fdEnv["FEEDBACKD_CONFIG"] = filepath.Join(root(), src)
	}
	fcfg, err := config.Load(nil, func(k string) string { return fdEnv[k] }, io.Discard)
	if err != nil {
		t.Fatalf("feedbackd refuses its compose environment: %v", err)
	}
	ports["feedbackd"] = listenPort(t, "feedbackd", fcfg.Listen)
	if !strings.HasPrefix(fcfg.Listen, "0.0.0.0:") {
		t.Errorf("feedbackd listens on %s: other containers cannot reach it", fcfg.Listen)
	}
	if mountTarget(fd, "feedbackd-spool") != fcfg.SpoolDir {
		t.Errorf("feedbackd spools to %s, the volume is mounted at %s", fcfg.SpoolDir, mountTarget(fd, "feedbackd-spool"))
	}

	// The demo: likewise through its own option parser.
	dm := c.Services["feedback-demo"]
	dmEnv := dm.env(images["feedback-demo"])
	dopts, err := demo.ParseOptions(nil, func(k string) string { return dmEnv[k] }, io.Discard)
	if err != nil {
		t.Fatalf("feedback-demo refuses its compose environment: %v", err)
	}
	ports["feedback-demo"] = listenPort(t, "feedback-demo", dopts.Listen)

	// Loki listens where its mounted config says.
	lk := c.Services["loki"]
	var lcfg struct {
		Server struct {
			HTTPListenPort int `yaml:"http_listen_port"`
		} `yaml:"server"`
		LimitsConfig struct {
			AllowStructuredMetadata bool `yaml:"allow_structured_metadata"`
		} `yaml:"limits_config"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/loki/loki.yaml"), &lcfg); err != nil {
		t.Fatalf("deploy/loki/loki.yaml: %v", err)
	}
	ports["loki"] = fmt.Sprint(lcfg.Server.HTTPListenPort)
	if !lcfg.LimitsConfig.AllowStructuredMetadata {
		t.Error("loki.yaml: allow_structured_metadata must be on")
	}
	if target := mountTarget(lk, "./deploy/loki/loki.yaml"); target == "" || !contains(lk.Command, "-config.file="+target) {
		t.Errorf("loki runs with %v but loki.yaml is mounted at %q", lk.Command, target)
	}
	ports["elasticsearch"] = "9200" // the image's fixed HTTP port
	ports["prometheus"] = "9090"    // likewise
	pm := c.Services["prometheus"]
	promTarget := mountTarget(pm, "./deploy/prometheus/prometheus.yml")
	if promTarget == "" || !contains(pm.Command, "--config.file="+promTarget) {
		t.Errorf("prometheus runs with %v but prometheus.yml is mounted at %q", pm.Command, promTarget)
	}

	hostPort(t, "feedbackd loki-url", fcfg.LokiURL, ports)
	hostPort(t, "feedbackd elasticsearch-url", fcfg.ElasticsearchURL, ports)
	// The escalation section builds with the compose environment, and its
	// Jira is the demo's.
	if _, ok, err := escalate.Build(fcfg.Escalation, escalate.Options{MinSeverity: fcfg.EscalateSeverity, Getenv: func(k string) string { return fdEnv[k] }}); err != nil || !ok {
		t.Errorf("feedbackd's escalation section: %v", err)
	}
	if fcfg.Escalation == nil || len(fcfg.Escalation.Targets) == 0 {
		t.Error("feedbackd escalates nothing in the dev stack")
	} else {
		for name, tg := range fcfg.Escalation.Targets {
			var jc jira.Config
			if err := tg.Decode(&jc); err != nil || tg.Type != "jira" {
				t.Errorf("escalation target %s: want the demo's jira, got %s (%v)", name, tg.Type, err)
				continue
			}
			hostPort(t, "feedbackd escalation target "+name, jc.URL, ports)
		}
	}
	hostPort(t, "feedbackd notify-url", fcfg.NotifyURL, ports)
	if fcfg.NotifySource != "elasticsearch" {
		t.Errorf("feedbackd reads reports from %q, want elasticsearch (the stack has it)", fcfg.NotifySource)
	}
	hostPort(t, "feedback-demo feedbackd-url", dopts.FeedbackdURL, ports)
	hostPort(t, "feedback-demo loki-url", dopts.LokiURL, ports)

	// The demo writes with a server token, and its chat page's widget, in the
	// visitor's browser, reaches feedbackd on its published port with a
	// browser token from the page's own published origin.
	if len(fcfg.Tokens) > 0 && !contains(fcfg.Tokens, dopts.Token) {
		t.Errorf("feedback-demo's token %q is not one of feedbackd's tokens", dopts.Token)
	}
	if !contains(fcfg.BrowserTokens, dopts.WidgetToken) {
		t.Errorf("the chat page's widget token %q is not one of feedbackd's browser tokens", dopts.WidgetToken)
	}
	published := func(s composeService, port string) string {
		for _, p := range s.Ports {
			if host, container, ok := strings.Cut(strings.Trim(p, `'"`), ":"); ok && container == port {
				return host
			}
		}
		return ""
	}
	if want := "http://localhost:" + published(fd, ports["feedbackd"]); strings.TrimRight(dopts.WidgetEndpoint, "/") != want {
		t.Errorf("the chat page's widget posts to %q, feedbackd is published at %s", dopts.WidgetEndpoint, want)
	}
	if origin := "http://localhost:" + published(dm, ports["feedback-demo"]); !contains(fcfg.CORSOrigins, origin) {
		t.Errorf("the chat page's origin %s (feedback-demo's published port) is not in feedbackd's cors-origins %v", origin, fcfg.CORSOrigins)
	}

	// Prometheus scrapes compose services on their metrics ports, and every
	// metrics source of the stack is scraped.
	var pcfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/prometheus/prometheus.yml"), &pcfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	scraped := map[string]bool{}
	for _, sc := range pcfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, _, _ := net.SplitHostPort(target)
				if host == "localhost" {
					continue
				}
				hostPort(t, "prometheus job "+sc.JobName, "http://"+target, ports)
				scraped[host] = true
			}
		}
	}
	for _, s := range []string{"feedbackd", "feedback-demo"} {
		if !scraped[s] {
			t.Errorf("prometheus does not scrape %s", s)
		}
	}

	// Grafana: provisioning and dashboards are mounted where Grafana and the
	// dashboard provider look, and the provisioned data source reaches the
	// stack's services.
	gf := c.Services["grafana"]
	if mountTarget(gf, "./provisioning") != "/etc/grafana/provisioning" {
		t.Errorf("provisioning/ is mounted at %q, Grafana reads /etc/grafana/provisioning", mountTarget(gf, "./provisioning"))
	}
	var provider struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(readFile(t, "provisioning/dashboards/dashboards.yml"), &provider); err != nil {
		t.Fatal(err)
	}
	if len(provider.Providers) != 1 || provider.Providers[0].Type != "file" || provider.Providers[0].Options.Path != mountTarget(gf, "./dashboards") {
		t.Errorf("dashboard provider %+v does not read the mounted dashboards/ (%s)", provider.Providers, mountTarget(gf, "./dashboards"))
	}
	const pluginDir = "/var/lib/grafana/plugins/" + pluginID
	for _, v := range gf.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(pluginDir+"/", strings.TrimSuffix(parts[1], "/")+"/") {
			t.Errorf("grafana mounts %s over the plugin built into the image (%s): a rebuild would not show", v, pluginDir)
		}
	}
	if !strings.Contains(string(readFile(t, "deploy/grafana.Dockerfile")), pluginDir) {
		t.Errorf("deploy/grafana.Dockerfile does not install the plugin in %s", pluginDir)
	}
	if !strings.Contains(gf.Environment["GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS"], pluginID) {
		t.Error("grafana does not allow loading the unsigned plugin")
	}
	ds := loadDatasource(t)
	var js struct {
		Loki          struct{ URL string }
		Elasticsearch struct{ URL string }
		Prometheus    struct{ URL string }
		Trace         struct {
			ExecutionLogsQuery string `json:"executionLogsQuery"`
		}
	}
	if err := json.Unmarshal(ds.JSONData, &js); err != nil {
		t.Fatal(err)
	}
	hostPort(t, "data source loki.url", js.Loki.URL, ports)
	hostPort(t, "data source elasticsearch.url", js.Elasticsearch.URL, ports)
	hostPort(t, "data source prometheus.url", js.Prometheus.URL, ports)
	if want := `{app="` + demo.AppLabel + `"}`; !strings.HasPrefix(js.Trace.ExecutionLogsQuery, want) || !strings.Contains(js.Trace.ExecutionLogsQuery, "${correlation_id}") {
		t.Errorf("executionLogsQuery %q does not select the demo's logs (%s) by ${correlation_id}", js.Trace.ExecutionLogsQuery, want)
	}
	grafanaImage := images["grafana"]
	if grafanaImage == nil || !strings.HasPrefix(grafanaImage.froms[len(grafanaImage.froms)-1], "grafana/grafana:") {
		t.Error("the grafana service does not build on a grafana/grafana image")
	}
}
