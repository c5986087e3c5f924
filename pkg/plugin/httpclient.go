package plugin

import (
	"fmt"
	"net/http"

	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"

	"github.com/feedbackloop/modelfeedback/pkg/models"
)

// sdkHTTPClient builds the backends' HTTP clients through Grafana's SDK, so
// the data source's requests get its middlewares; the timeouts are the same
// as feedbackd's (models.NewHTTPClient).
func sdkHTTPClient(name string, auth models.HTTPAuth) (*http.Client, error) {
	opts := httpclient.Options{
		Timeouts: &httpclient.TimeoutOptions{Timeout: models.Timeout, DialTimeout: models.DialTimeout,
			KeepAlive: models.KeepAlive, TLSHandshakeTimeout: models.TLSHandshakeTimeout,
			MaxIdleConnsPerHost: models.MaxIdleConnsPerHost, IdleConnTimeout: models.IdleConnTimeout},
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
