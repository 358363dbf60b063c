package node_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// An embedded node's own etcd metrics are reachable on a metrics URL of
// etcd's and through a handler the service mounts.
func TestNodeMetricsReachable(t *testing.T) {
	t.Parallel()
	cfg := fast("metrics")
	cfg.MetricsURLs = []string{"http://127.0.0.1:0"}
	n := start(t, cfg)
	eps := n.MetricsEndpoints()
	require.Len(t, eps, 1)
	require.NotContains(t, eps[0], ":0", "port 0 resolved")
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(eps[0] + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "etcd_server_has_leader 1")

	rec := httptest.NewRecorder()
	n.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "etcd_server_has_leader 1")
	require.Contains(t, rec.Body.String(), "etcd_mvcc_db_total_size_in_bytes")

	require.Empty(t, start(t, fast("no-metrics-url")).MetricsEndpoints())
}
