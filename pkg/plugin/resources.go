package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// CallResource serves the editors' and variables' look-ups (docs/queries.md).
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	return d.resources.CallResource(ctx, req, sender)
}

type lookup func(ctx context.Context, src read.Reader, r *http.Request, from, to time.Time) ([]string, error)

func (d *Datasource) resourceRoutes() http.Handler {
	mux := http.NewServeMux()
	routes := map[string]lookup{
		"model-ids": func(ctx context.Context, src read.Reader, _ *http.Request, from, to time.Time) ([]string, error) {
			return src.ModelIDs(ctx, from, to)
		},
		"model-versions": func(ctx context.Context, src read.Reader, r *http.Request, from, to time.Time) ([]string, error) {
			return src.ModelVersions(ctx, r.URL.Query().Get("model_id"), from, to)
		},
		"tags": func(ctx context.Context, src read.Reader, _ *http.Request, from, to time.Time) ([]string, error) {
			return src.Tags(ctx, from, to)
		},
		"fields": func(ctx context.Context, src read.Reader, _ *http.Request, from, to time.Time) ([]string, error) {
			all := storage.FieldNames(true)
			names := all[:len(all)-2] // drop the attributes.<key> and params.<key> placeholders
			keys, err := src.AttributeKeys(ctx, from, to)
			if err != nil {
				// Attribute discovery is a convenience: the fixed fields
				// still let the editor work.
				backend.Logger.Warn("attribute key discovery failed", "error", err)
			}
			return append(names, keys...), nil
		},
		"field-values": func(ctx context.Context, src read.Reader, r *http.Request, from, to time.Time) ([]string, error) {
			field := r.URL.Query().Get("field")
			if field == "" {
				return nil, badRequest("the field parameter is required, e.g. field=model_version")
			}
			if _, err := storage.LookupField(field, true); err != nil {
				return nil, badRequest("field: " + err.Error())
			}
			if field == "tag" {
				// A tag is a member of an event's tags: the values are the
				// tags in use.
				return src.Tags(ctx, from, to)
			}
			return src.FieldValues(ctx, field, from, to)
		},
	}
	for path, fn := range routes {
		mux.HandleFunc("/"+path, d.serveLookup(fn))
	}
	mux.HandleFunc("/review", d.serveReview)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("unknown resource %q", r.URL.Path)})
	})
	return mux
}

type badRequest string

func (b badRequest) Error() string { return string(b) }

func (d *Datasource) serveLookup(fn lookup) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET"})
			return
		}
		if d.settingsErr != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": d.settingsErr.Error()})
			return
		}
		from, to, err := timeParams(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s := query.Source(r.URL.Query().Get("source"))
		if s == "" {
			s = d.settings.DefaultSource
		}
		if s != query.SourceLoki && s != query.SourceElasticsearch {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("source: %q is not loki or elasticsearch", s)})
			return
		}
		src, err := d.source(s)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		vals, err := fn(r.Context(), src, r, from, to)
		if err != nil {
			var br badRequest
			if errors.As(err, &br) {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		if vals == nil {
			vals = []string{}
		}
		sort.Strings(vals)
		writeJSON(w, http.StatusOK, vals)
	}
}

// timeParams reads from/to (epoch ms); the default is the last 24 hours.
func timeParams(r *http.Request) (time.Time, time.Time, error) {
	now := time.Now()
	from, to := now.Add(-24*time.Hour), now
	parse := func(name string, def time.Time) (time.Time, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return def, nil
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return time.Time{}, fmt.Errorf("%s: %q is not a time in epoch milliseconds", name, v)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	var err error
	if from, err = parse("from", from); err != nil {
		return from, to, err
	}
	if to, err = parse("to", to); err != nil {
		return from, to, err
	}
	if !to.After(from) {
		return from, to, errors.New("to must be after from")
	}
	return from, to, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
