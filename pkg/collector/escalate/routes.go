package escalate

import (
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/config"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/github"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/jira"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/linear"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/slack"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/webhook"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Route is a compiled routing rule.
type Route struct {
	// Name is how errors and dead letters name the rule, e.g.
	// escalation.routes[0] (harmful).
	Name       string
	Severities []feedback.Severity
	Tags       []string
	Models     []string
	Version    string // a path.Match glob; empty matches any
	// Tracker opens the ticket; Announcers tell people about it.
	Tracker    string
	Announcers []string
}

// Matches reports whether every condition of r holds for e.
func (r *Route) Matches(e *feedback.Event) bool {
	if len(r.Severities) > 0 && !slices.Contains(r.Severities, e.Severity) {
		return false
	}
	if len(r.Tags) > 0 && !slices.ContainsFunc(r.Tags, func(t string) bool { return t == e.Reason || e.HasTag(t) }) {
		return false
	}
	if len(r.Models) > 0 && !slices.Contains(r.Models, e.Model.ID) {
		return false
	}
	if r.Version != "" {
		if ok, _ := path.Match(r.Version, e.Model.Version); !ok {
			return false
		}
	}
	return true
}

// Options are the flat options the escalation needs besides the file's
// section.
type Options struct {
	// URL, Token and System are the generic webhook of --escalate-url: a
	// target named "webhook", the default when no section names another.
	URL, Token, System string
	MinSeverity        string
	GrafanaURL         string
	Timeout            time.Duration
	Getenv             func(string) string
}

// LegacyTarget is the name of the --escalate-url target.
const LegacyTarget = "webhook"

// Build makes the escalator's targets and routes from the configuration;
// Config.Append and Now are left to the caller. Errors name the rule, the
// target and the field. It reports false when nothing is configured.
func Build(esc *config.Escalation, o Options) (Config, bool, error) {
	cfg := Config{MinSeverity: feedback.Severity(o.MinSeverity), GrafanaURL: o.GrafanaURL,
		Trackers: map[string]target.Tracker{}, Announcers: map[string]target.Announcer{}}
	if o.URL == "" && esc == nil {
		return cfg, false, nil
	}
	if o.URL != "" {
		w, err := webhook.New(LegacyTarget, [2]string{"escalate-url", "escalate-system"}, o.URL, o.Token, o.System, o.Timeout)
		if err != nil {
			return cfg, false, err
		}
		cfg.Trackers[LegacyTarget] = w
	}
	if esc == nil {
		cfg.Default = &Route{Name: "default", Tracker: LegacyTarget}
		return cfg, true, nil
	}
	for name, t := range esc.Targets {
		field := "escalation.targets." + name
		if name == "" {
			return cfg, false, fmt.Errorf("escalation.targets: a target needs a name")
		}
		if _, taken := cfg.Trackers[name]; taken {
			return cfg, false, fmt.Errorf("%s: the name %s is the --escalate-url target's; choose another", field, name)
		}
		if err := build(&cfg, name, t, o); err != nil {
			return cfg, false, fmt.Errorf("%s.%w", field, err)
		}
	}
	used := map[string]bool{}
	for i, r := range esc.Routes {
		name := fmt.Sprintf("escalation.routes[%d]", i)
		if r.Name != "" {
			name += " (" + r.Name + ")"
		}
		rt, err := compile(&cfg, name, r.Match, r.Targets, used)
		if err != nil {
			return cfg, false, err
		}
		cfg.Routes = append(cfg.Routes, rt)
	}
	switch {
	case len(esc.Default) > 0:
		rt, err := compile(&cfg, "escalation.default", config.Match{}, esc.Default, used)
		if err != nil {
			return cfg, false, err
		}
		cfg.Default = &rt
	case len(esc.Routes) == 0 && o.URL != "":
		cfg.Default = &Route{Name: "default", Tracker: LegacyTarget}
		used[LegacyTarget] = true
	case len(esc.Routes) == 0:
		return cfg, false, fmt.Errorf("escalation: no routes and no default: nothing would be escalated")
	}
	for name := range esc.Targets {
		if !used[name] {
			return cfg, false, fmt.Errorf("escalation.targets.%s: not used by any route or the default", name)
		}
	}
	return cfg, true, nil
}

// build decodes and makes one target; errors start with a field name.
func build(cfg *Config, name string, t config.Target, o Options) error {
	decode := t.Decode
	var err error
	switch t.Type {
	case "jira":
		var c jira.Config
		if err = decode(&c); err == nil {
			cfg.Trackers[name], err = newTarget(jira.New(name, c, o.Getenv, o.Timeout))
		}
	case "linear":
		var c linear.Config
		if err = decode(&c); err == nil {
			cfg.Trackers[name], err = newTarget(linear.New(name, c, o.Getenv, o.Timeout))
		}
	case "github":
		var c github.Config
		if err = decode(&c); err == nil {
			cfg.Trackers[name], err = newTarget(github.New(name, c, o.Getenv, o.Timeout))
		}
	case "webhook":
		var c webhook.Config
		if err = decode(&c); err == nil {
			cfg.Trackers[name], err = newTarget(webhook.FromConfig(name, c, o.Getenv, o.Timeout))
		}
	case "slack":
		var c slack.Config
		if err = decode(&c); err == nil {
			var s *slack.Slack
			if s, err = slack.New(name, c, o.Getenv, o.Timeout); err == nil {
				cfg.Announcers[name] = s
			}
		}
	default:
		return fmt.Errorf("type: want jira, linear, github, webhook or slack, got %q", t.Type)
	}
	return err
}

// newTarget drops a typed nil, so a failed New leaves no non-nil interface.
func newTarget[T target.Tracker](t T, err error) (target.Tracker, error) {
	if err != nil {
		return nil, err
	}
	return t, nil
}

func compile(cfg *Config, name string, m config.Match, targets []string, used map[string]bool) (Route, error) {
	rt := Route{Name: name, Tags: m.Tags, Models: m.Model, Version: m.Version}
	for i, s := range m.Severity {
		sev := feedback.Severity(s)
		if sev != feedback.SeverityWarning && sev != feedback.SeverityCritical {
			return rt, fmt.Errorf("%s: match.severity[%d]: want warning or critical, got %q", name, i, s)
		}
		if rank(sev) < rank(cfg.MinSeverity) {
			return rt, fmt.Errorf("%s: match.severity[%d]: %s is below escalate-severity %s, so it is never escalated", name, i, s, cfg.MinSeverity)
		}
		rt.Severities = append(rt.Severities, sev)
	}
	for i, t := range m.Tags {
		if !feedback.ValidTag(t) {
			return rt, fmt.Errorf("%s: match.tags[%d]: %q is not a tag", name, i, t)
		}
	}
	for i, id := range m.Model {
		if id == "" {
			return rt, fmt.Errorf("%s: match.model[%d]: must not be empty", name, i)
		}
	}
	if _, err := path.Match(m.Version, ""); err != nil {
		return rt, fmt.Errorf("%s: match.version: %q is not a glob pattern: %w", name, m.Version, err)
	}
	for i, t := range targets {
		field := fmt.Sprintf("%s: targets[%d]", name, i)
		if _, ok := cfg.Trackers[t]; ok {
			if rt.Tracker != "" {
				return rt, fmt.Errorf("%s: %s is a second ticket target; a route opens one ticket (%s) and may announce it on slack targets", field, t, rt.Tracker)
			}
			rt.Tracker = t
		} else if _, ok := cfg.Announcers[t]; ok {
			rt.Announcers = append(rt.Announcers, t)
		} else {
			return rt, fmt.Errorf("%s: no target named %q in escalation.targets", field, t)
		}
		used[t] = true
	}
	if rt.Tracker == "" {
		return rt, fmt.Errorf("%s: targets: needs one ticket target (jira, linear, github or webhook); slack only announces tickets", name)
	}
	return rt, nil
}
