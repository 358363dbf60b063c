package node

import (
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsHandler serves the embedded etcd server's own Prometheus metrics
// (etcd_server_*, etcd_disk_*, etcd_mvcc_*, etcd_network_* ...), what
// etcd's /metrics endpoint shows, for a service to mount next to its own.
// etcd registers them on Prometheus' default registry, so the handler
// serves that registry, Go runtime metrics and anything else registered
// there included. Config.MetricsURLs serves the same on a listener of
// etcd's own. coordkit's recipe metrics are not in it: they go to the
// registry given to metrics/prom.
func (n *Node) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(prometheus.DefaultGatherer, promhttp.HandlerOpts{})
}

// MetricsEndpoints returns the URLs where etcd serves /metrics and
// /health, from Config.MetricsURLs with real ports; nil without them.
func (n *Node) MetricsEndpoints() []string {
	var out []string
	for _, u := range n.etcd.Config().ListenMetricsUrls {
		out = append(out, u.String())
	}
	return out
}

// metricsURLs validates Config.MetricsURLs, resolving port 0.
func metricsURLs(cfg *Config, plan *startPlan) ([]url.URL, error) {
	if len(cfg.MetricsURLs) == 0 {
		return nil, nil
	}
	us, err := parseURLs("MetricsURLs", cfg.MetricsURLs, false)
	if err != nil {
		return nil, err
	}
	if err := reservePorts(us, plan); err != nil {
		return nil, err
	}
	plan.listen = append(plan.listen, us...)
	return us, nil
}
