package devstack_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// The stand-ins for the binaries scripts/run.sh starts in native mode
// (grafana, grafana-server, loki, prometheus, elasticsearch) and for docker.
// They are this test binary, run through a small wrapper script on PATH
// that sets STANDIN_AS (see writeStandIn): the wrapper is a real file, so
// run.sh finds Grafana's home next to it as it would in an unpacked
// release. Each one accepts exactly the command line the real binary is
// documented to take for what run.sh does with it, reads the config files
// it was given as the real one would (refusing what it cannot parse), checks
// what the real one needs to exist, records all of it, and then listens
// where its configuration says and answers the readiness path run.sh waits
// on. Everything else is refused (501) and logged, so an unexpected call
// shows in the record.

// standInRecord is what a stand-in writes to STANDIN_RECORD/<name>.json
// once it is listening.
type standInRecord struct {
	Name  string
	PID   int
	Args  []string
	Env   map[string]string // GF_*, ES_* and JAVA_* variables
	Files map[string]string // config file path → contents as read
	// Probes are the GET requests the stand-in made at start to the
	// services its configuration names (Grafana's data source URLs,
	// Prometheus's scrape targets): URL → status code, 0 if unreachable.
	Probes map[string]int
}

const (
	standInAs     = "STANDIN_AS"
	standInRecDir = "STANDIN_RECORD"
	standInDocker = "STANDIN_DOCKER_INFO" // "ok" or "fail"
)

type standIn struct {
	name string
	dir  string
	rec  standInRecord
	mu   sync.Mutex
	log  *os.File
}

// runStandIn is the stand-in's main; it returns the exit code.
func runStandIn(name string, args []string) int {
	s := &standIn{name: name, dir: os.Getenv(standInRecDir)}
	s.rec = standInRecord{Name: name, PID: os.Getpid(), Args: args, Env: map[string]string{},
		Files: map[string]string{}, Probes: map[string]int{}}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GF_") || strings.HasPrefix(k, "ES_") || strings.HasPrefix(k, "JAVA_") {
			s.rec.Env[k] = v
		}
	}
	var err error
	if s.log, err = os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "stand-in:", err)
		return 2
	}
	var run func([]string) error
	switch name {
	case "grafana":
		run = func(a []string) error {
			if len(a) == 0 || a[0] != "server" {
				return fmt.Errorf("want the server subcommand first, got %q", a)
			}
			return s.grafana(a[1:])
		}
	case "grafana-server":
		run = s.grafana
	case "loki":
		run = s.loki
	case "prometheus":
		run = s.prometheus
	case "elasticsearch":
		run = s.elasticsearch
	case "docker":
		return s.docker(args)
	default:
		fmt.Fprintf(os.Stderr, "stand-in: no stand-in %q\n", name)
		return 2
	}
	if err := run(args); err != nil {
		fmt.Fprintf(os.Stderr, "stand-in %s: %v\n", name, err)
		s.event("failed: %v", err)
		return 2
	}
	return 0
}

func (s *standIn) event(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.log, format+"\n", a...)
}

func (s *standIn) readFile(path string) ([]byte, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("config path %q is not absolute", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s.rec.Files[path] = string(b)
	return b, nil
}

func (s *standIn) probe(url string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		s.rec.Probes[url] = 0
		return
	}
	resp.Body.Close()
	s.rec.Probes[url] = resp.StatusCode
}

// serve serves mux on addr (and holds the extra addresses, as the real
// binary listens there too), runs started, writes the record and serves
// until SIGTERM or SIGINT. readyPath answers 503 until the record is
// written, so whoever waits for it finds the record complete.
func (s *standIn) serve(addr, readyPath string, mux *http.ServeMux, started func(), extra ...string) error {
	var recorded atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for _, a := range extra {
		el, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		defer el.Close()
	}
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if r.URL.Path == readyPath && !recorded.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if pattern == "" {
			s.event("refused %s %s", r.Method, r.URL.RequestURI())
			http.Error(w, "not implemented by the "+s.name+" stand-in", http.StatusNotImplemented)
			return
		}
		s.event("%s %s", r.Method, r.URL.RequestURI())
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	if started != nil {
		started()
	}
	b, _ := json.MarshalIndent(s.rec, "", "  ")
	tmp := filepath.Join(s.dir, s.name+".json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, s.name+".json")); err != nil {
		return err
	}
	recorded.Store(true)
	got := <-sig
	s.event("stopped by %v", got)
	return srv.Close()
}

func ok(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) }
}

// grafana takes `grafana server` / `grafana-server` flags: --homepath and
// --config (Go's flag package, as Grafana's CLI accepts them).
func (s *standIn) grafana(args []string) error {
	fs := flag.NewFlagSet(s.name, flag.ContinueOnError)
	home := fs.String("homepath", "", "")
	config := fs.String("config", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, err := os.Stat(filepath.Join(*home, "conf", "defaults.ini")); err != nil {
		return fmt.Errorf("--homepath %q: %w", *home, err)
	}
	b, err := s.readFile(*config)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	ini, err := parseINI(string(b))
	if err != nil {
		return fmt.Errorf("--config %s: %w", *config, err)
	}
	for _, k := range []string{"data", "logs", "plugins", "provisioning"} {
		if p := ini["paths"][k]; !filepath.IsAbs(p) {
			return fmt.Errorf("[paths] %s = %q is not an absolute path", k, p)
		}
	}
	// The plugin as Grafana loads it: plugin.json names the executable,
	// which must be there for this OS and architecture, executable.
	pdir := filepath.Join(ini["paths"]["plugins"], pluginID)
	pj, err := os.ReadFile(filepath.Join(pdir, "plugin.json"))
	if err != nil {
		return err
	}
	var meta struct{ ID, Executable string }
	if err := json.Unmarshal(pj, &meta); err != nil || meta.ID != pluginID || meta.Executable == "" {
		return fmt.Errorf("%s/plugin.json: id %q executable %q (%v)", pdir, meta.ID, meta.Executable, err)
	}
	exe := filepath.Join(pdir, meta.Executable+"_"+runtime.GOOS+"_"+runtime.GOARCH)
	if st, err := os.Stat(exe); err != nil || st.Mode()&0o111 == 0 {
		return fmt.Errorf("plugin backend %s is missing or not executable (%v)", exe, err)
	}
	// Provisioning: every file Grafana would read, recorded; the data source
	// URLs probed the way its health check reaches them.
	prov := ini["paths"]["provisioning"]
	for _, sub := range []string{"datasources", "dashboards", "alerting"} {
		files, _ := filepath.Glob(filepath.Join(prov, sub, "*.yml"))
		if len(files) == 0 {
			return fmt.Errorf("no provisioning files in %s/%s", prov, sub)
		}
		for _, f := range files {
			if _, err := s.readFile(f); err != nil {
				return err
			}
		}
	}
	var ds struct {
		Datasources []struct {
			Type     string `yaml:"type"`
			JSONData struct {
				Loki, Elasticsearch, Prometheus struct {
					URL string `yaml:"url"`
				}
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	dsPath := filepath.Join(prov, "datasources", "datasources.yml")
	if err := yaml.Unmarshal([]byte(s.rec.Files[dsPath]), &ds); err != nil {
		return fmt.Errorf("%s: %w", dsPath, err)
	}
	for _, d := range ds.Datasources {
		if d.Type != pluginID {
			continue
		}
		j := d.JSONData
		s.probe(j.Loki.URL + "/ready")
		s.probe(j.Prometheus.URL + "/-/ready")
		if j.Elasticsearch.URL != "" {
			s.probe(j.Elasticsearch.URL + "/")
		}
	}
	port, err := strconv.Atoi(ini["server"]["http_port"])
	if err != nil {
		return fmt.Errorf("[server] http_port: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/health", ok(`{"database":"ok"}`))
	return s.serve(net.JoinHostPort(ini["server"]["http_addr"], strconv.Itoa(port)), "/api/health", mux, nil)
}

// parseINI reads the subset of Grafana's ini format a generated file uses:
// [section] headers, key = value, ; and # comments. The module has no ini
// library and this file is written by run.sh, so anything else in it is an
// error rather than something to be lenient about.
func parseINI(text string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, ";") || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			if _, dup := out[section]; dup {
				return nil, fmt.Errorf("line %d: section [%s] twice", n, section)
			}
			out[section] = map[string]string{}
		default:
			k, v, found := strings.Cut(l, "=")
			if !found || section == "" {
				return nil, fmt.Errorf("line %d: %q is not key = value in a section", n, l)
			}
			k = strings.TrimSpace(k)
			if _, dup := out[section][k]; dup {
				return nil, fmt.Errorf("line %d: [%s] %s twice", n, section, k)
			}
			out[section][k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// loki takes -config.file only (the compose service's command).
func (s *standIn) loki(args []string) error {
	fs := flag.NewFlagSet("loki", flag.ContinueOnError)
	config := fs.String("config.file", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	b, err := s.readFile(*config)
	if err != nil {
		return fmt.Errorf("-config.file: %w", err)
	}
	var c struct {
		Server struct {
			HTTPAddr string `yaml:"http_listen_address"`
			HTTPPort int    `yaml:"http_listen_port"`
			GRPCAddr string `yaml:"grpc_listen_address"`
			GRPCPort int    `yaml:"grpc_listen_port"`
		} `yaml:"server"`
		Common struct {
			PathPrefix string `yaml:"path_prefix"`
		} `yaml:"common"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s: %w", *config, err)
	}
	if !filepath.IsAbs(c.Common.PathPrefix) {
		return fmt.Errorf("common.path_prefix %q is not absolute", c.Common.PathPrefix)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ready", ok("ready\n"))
	mux.HandleFunc("POST /loki/api/v1/push", func(w http.ResponseWriter, r *http.Request) {
		switch ct := r.Header.Get("Content-Type"); ct {
		case "application/x-protobuf", "application/json":
			_, _ = io.Copy(io.Discard, r.Body)
			s.event("push %s", ct)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "push: Content-Type "+ct, http.StatusUnsupportedMediaType)
		}
	})
	return s.serve(net.JoinHostPort(c.Server.HTTPAddr, strconv.Itoa(c.Server.HTTPPort)), "/ready", mux, nil,
		net.JoinHostPort(c.Server.GRPCAddr, strconv.Itoa(c.Server.GRPCPort)))
}

// prometheus takes the long flags run.sh uses, kingpin style (--name=value
// or --name value; Prometheus has no single-dash long flags).
func (s *standIn) prometheus(args []string) error {
	known := map[string]bool{"config.file": true, "storage.tsdb.path": true, "web.listen-address": true, "enable-feature": true}
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			return fmt.Errorf("unexpected argument %q", a)
		}
		k, v, found := strings.Cut(a[2:], "=")
		if !known[k] {
			return fmt.Errorf("unknown long flag '--%s'", k)
		}
		if !found {
			if i++; i == len(args) {
				return fmt.Errorf("--%s needs a value", k)
			}
			v = args[i]
		}
		flags[k] = v
	}
	b, err := s.readFile(flags["config.file"])
	if err != nil {
		return fmt.Errorf("--config.file: %w", err)
	}
	if !filepath.IsAbs(flags["storage.tsdb.path"]) {
		return fmt.Errorf("--storage.tsdb.path %q is not absolute", flags["storage.tsdb.path"])
	}
	var c struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s: %w", flags["config.file"], err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /-/ready", ok("Prometheus Server is Ready.\n"))
	mux.Handle("GET /metrics", ok("# TYPE up gauge\n"))
	// One scrape of every target (its own included, so once it listens), as
	// the real one does within its first interval.
	return s.serve(flags["web.listen-address"], "/-/ready", mux, func() {
		for _, sc := range c.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				for _, t := range st.Targets {
					s.probe("http://" + t + "/metrics")
				}
			}
		}
	})
}

// elasticsearch takes -Ekey=value settings; it knows the ones the compose
// service sets and the ones that bind it to a port and a directory.
func (s *standIn) elasticsearch(args []string) error {
	known := map[string]bool{"discovery.type": true, "xpack.security.enabled": true, "network.host": true,
		"http.port": true, "transport.port": true, "path.data": true, "path.logs": true}
	set := map[string]string{}
	for _, a := range args {
		kv, found := strings.CutPrefix(a, "-E")
		k, v, isKV := strings.Cut(kv, "=")
		if !found || !isKV || !known[k] {
			return fmt.Errorf("unknown setting %q", a)
		}
		set[k] = v
	}
	for _, k := range []string{"path.data", "path.logs"} {
		if st, err := os.Stat(set[k]); err != nil || !st.IsDir() || !filepath.IsAbs(set[k]) {
			return fmt.Errorf("%s %q is not an existing absolute directory", k, set[k])
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", ok(`{"version":{"number":"8.15.3"}}`))
	mux.HandleFunc("GET /_cluster/health", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("wait_for_status") != "yellow" {
			http.Error(w, "the stand-in answers wait_for_status=yellow only", http.StatusNotImplemented)
			return
		}
		io.WriteString(w, `{"status":"green"}`)
	})
	return s.serve(net.JoinHostPort(set["network.host"], set["http.port"]), "/_cluster/health", mux, nil,
		net.JoinHostPort(set["network.host"], set["transport.port"]))
}

// docker answers `docker info` as STANDIN_DOCKER_INFO says and records
// `docker compose up ...`.
func (s *standIn) docker(args []string) int {
	s.event("docker %s", strings.Join(args, " "))
	switch {
	case len(args) == 1 && args[0] == "info":
		if os.Getenv(standInDocker) == "ok" {
			fmt.Println("Server Version: stand-in")
			return 0
		}
		fmt.Fprintln(os.Stderr, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
		return 1
	case len(args) >= 2 && args[0] == "compose" && args[1] == "up":
		return 0
	}
	fmt.Fprintf(os.Stderr, "stand-in docker: %q is not implemented\n", args)
	return 2
}
