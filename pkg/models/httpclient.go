package models

import (
	"net"
	"net/http"
	"time"
)

// HTTPAuth is how one backend authenticates: basic auth, or an
// Authorization header value (e.g. "Bearer …", "ApiKey …"), plus extra
// headers such as Loki's tenant.
type HTTPAuth struct {
	BasicUser, BasicPassword string
	Authorization            string
	Headers                  map[string]string
}

// HTTPClientFunc builds the HTTP client of one backend. The data source
// passes one built by Grafana's SDK (with its middlewares); feedbackd and
// feedbackctl use NewHTTPClient.
type HTTPClientFunc func(name string, auth HTTPAuth) (*http.Client, error)

// Timeouts every backend's client uses, whoever builds it.
const (
	Timeout             = 60 * time.Second
	DialTimeout         = 10 * time.Second
	KeepAlive           = 30 * time.Second
	TLSHandshakeTimeout = 10 * time.Second
	MaxIdleConnsPerHost = 4
	IdleConnTimeout     = 90 * time.Second
)

// NewHTTPClient is the standard library client with the timeouts above and
// the authentication added to every request. It is written here rather than
// taken from Grafana's SDK so that feedbackd links no Grafana code; it sets
// exactly what the SDK's options set for these backends.
func NewHTTPClient(_ string, auth HTTPAuth) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: DialTimeout, KeepAlive: KeepAlive}).DialContext,
		TLSHandshakeTimeout: TLSHandshakeTimeout,
		MaxIdleConnsPerHost: MaxIdleConnsPerHost,
		IdleConnTimeout:     IdleConnTimeout,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{Timeout: Timeout, Transport: authTransport{auth: auth, next: tr}}, nil
}

type authTransport struct {
	auth HTTPAuth
	next http.RoundTripper
}

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if a.auth.BasicUser != "" {
		r.SetBasicAuth(a.auth.BasicUser, a.auth.BasicPassword)
	}
	if a.auth.Authorization != "" {
		r.Header.Set("Authorization", a.auth.Authorization)
	}
	for k, v := range a.auth.Headers {
		r.Header.Set(k, v)
	}
	return a.next.RoundTrip(r)
}

// Build returns the client from f, or NewHTTPClient when f is nil.
func (f HTTPClientFunc) Build(name string, auth HTTPAuth) (*http.Client, error) {
	if f == nil {
		return NewHTTPClient(name, auth)
	}
	return f(name, auth)
}
