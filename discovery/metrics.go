package discovery

import (
	"github.com/coordkit/coordkit/metrics"
)

// WithMetrics makes Registrations, Watchers and resolvers report to p (see
// the metrics package; the prom subpackage registers them on a Prometheus
// registry):
//
//   - coordkit_discovery_registrations{state}: Registrations of this
//     process by state, "registered" or "lost".
//   - coordkit_discovery_reregistrations_total: registrations whose key was
//     put back after a loss.
//   - coordkit_discovery_watcher_instances{service}: instances in the
//     watched service's cache (draining ones included).
//   - coordkit_discovery_watcher_stale{service}: 1 while the service's
//     cache may be behind etcd, 0 when current.
//   - coordkit_discovery_resolver_updates_total: address lists pushed to
//     gRPC by the resolver.
//
// The service label takes the names of the services the program watches,
// a set the program fixes. Without the option, nothing is measured. Watchers
// of one service share a cache: it reports once any of them has the option.
func WithMetrics(p metrics.Provider) Option {
	return func(o *options) {
		o.metrics = newDiscoveryMetrics(p)
	}
}

type discoveryMetrics struct {
	registrations    metrics.Gauge
	reregistrations  metrics.Counter
	instances, stale metrics.Gauge
	resolverUpdates  metrics.Counter
}

func newDiscoveryMetrics(p metrics.Provider) *discoveryMetrics {
	if p == nil {
		return nil
	}
	return &discoveryMetrics{
		registrations:   p.Gauge(metrics.Desc{Name: "coordkit_discovery_registrations", Help: "Registrations of this process, by state.", Labels: []string{"state"}}),
		reregistrations: p.Counter(metrics.Desc{Name: "coordkit_discovery_reregistrations_total", Help: "Registrations put back after a loss."}),
		instances:       p.Gauge(metrics.Desc{Name: "coordkit_discovery_watcher_instances", Help: "Instances in a watched service's cache.", Labels: []string{"service"}}),
		stale:           p.Gauge(metrics.Desc{Name: "coordkit_discovery_watcher_stale", Help: "1 while a watched service's cache may be behind etcd.", Labels: []string{"service"}}),
		resolverUpdates: p.Counter(metrics.Desc{Name: "coordkit_discovery_resolver_updates_total", Help: "Address lists pushed to gRPC by the resolver."}),
	}
}

// transition records a Registration moving from one state to another.
func (m *discoveryMetrics) transition(from, to State) {
	if from == Registered || from == Lost {
		m.registrations.Add(-1, from.String())
	}
	if to == Registered || to == Lost {
		m.registrations.Add(1, to.String())
	}
	if from == Lost && to == Registered {
		m.reregistrations.Add(1)
	}
}

// cache records a service's cache: its size and whether it is stale.
func (m *discoveryMetrics) cache(service string, instances int, stale bool) {
	m.instances.Set(float64(instances), service)
	v := 0.0
	if stale {
		v = 1
	}
	m.stale.Set(v, service)
}
