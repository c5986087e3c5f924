package models

import (
	"fmt"
	"net/http"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"
)

// HTTPAuth is how one backend authenticates: basic auth, or an
// Authorization header value (e.g. "Bearer …", "ApiKey …"), plus extra
// headers such as Loki's tenant.
type HTTPAuth struct {
	BasicUser, BasicPassword string
	Authorization            string
	Headers                  map[string]string
}

// NewHTTPClient builds the HTTP client every backend uses, through the SDK
// (which adds Grafana's middlewares), with the same timeouts for all.
func NewHTTPClient(name string, auth HTTPAuth) (*http.Client, error) {
	opts := httpclient.Options{
		Timeouts: &httpclient.TimeoutOptions{Timeout: 60 * time.Second, DialTimeout: 10 * time.Second,
			KeepAlive: 30 * time.Second, TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4,
			IdleConnTimeout: 90 * time.Second},
		Header: http.Header{},
	}
	if auth.BasicUser != "" {
		opts.BasicAuth = &httpclient.BasicAuthOptions{User: auth.BasicUser, Password: auth.BasicPassword}
	}
	if auth.Authorization != "" {
		opts.Header.Set("Authorization", auth.Authorization)
	}
	for k, v := range auth.Headers {
		opts.Header.Set(k, v)
	}
	hc, err := httpclient.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%s http client: %w", name, err)
	}
	return hc, nil
}
