// Package prom implements coordkit's metrics.Provider on Prometheus'
// client_golang, registering every metric on the prometheus.Registerer the
// program supplies (never the global registry unless that is what it
// passes). Import it only where Prometheus is wanted.
//
//	reg := prometheus.NewRegistry()
//	m := prom.New(reg)
//	mu, err := lock.NewMutex(cli, "jobs", lock.WithMetrics(m))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
package prom

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coordkit/coordkit/metrics"
)

// Provider is a metrics.Provider registering on one Registerer. It returns
// the same collector for the same metric name, so any number of coordkit
// handles share it. It is safe for concurrent use.
type Provider struct {
	reg prometheus.Registerer
	mu  sync.Mutex
	got map[string]any
	err error // the first registration failure; such a metric counts unexported
}

var _ metrics.Provider = (*Provider)(nil)

// New returns a Provider registering on reg.
func New(reg prometheus.Registerer) *Provider {
	return &Provider{reg: reg, got: map[string]any{}}
}

// Err returns the first error met registering a metric (its name taken by
// an incompatible collector), or nil.
func (p *Provider) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// register returns the collector already made for d.Name, or registers
// made (or adopts an identical one already registered).
func register[C prometheus.Collector](p *Provider, name string, make func() C) C {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.got[name]; ok {
		if typed, ok := c.(C); ok {
			return typed
		}
		if p.err == nil {
			p.err = fmt.Errorf("prom: metric %s requested with two different types", name)
		}
		return make()
	}
	c := make()
	if err := p.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				c = existing
			}
		} else if p.err == nil {
			p.err = fmt.Errorf("prom: register %s: %w", name, err)
		}
	}
	p.got[name] = c
	return c
}

// Counter implements metrics.Provider.
func (p *Provider) Counter(d metrics.Desc) metrics.Counter {
	v := register(p, d.Name, func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels)
	})
	return counter{v}
}

// Gauge implements metrics.Provider.
func (p *Provider) Gauge(d metrics.Desc) metrics.Gauge {
	v := register(p, d.Name, func() *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}, d.Labels)
	})
	return gauge{v}
}

// Histogram implements metrics.Provider.
func (p *Provider) Histogram(d metrics.Desc) metrics.Histogram {
	v := register(p, d.Name, func() *prometheus.HistogramVec {
		b := d.Buckets
		if b == nil {
			b = metrics.LatencyBuckets
		}
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: b}, d.Labels)
	})
	return histogram{v}
}

type counter struct{ v *prometheus.CounterVec }

func (c counter) Add(delta float64, lvs ...string) { c.v.WithLabelValues(lvs...).Add(delta) }

type gauge struct{ v *prometheus.GaugeVec }

func (g gauge) Set(x float64, lvs ...string)     { g.v.WithLabelValues(lvs...).Set(x) }
func (g gauge) Add(delta float64, lvs ...string) { g.v.WithLabelValues(lvs...).Add(delta) }

type histogram struct{ v *prometheus.HistogramVec }

func (h histogram) Observe(x float64, lvs ...string) { h.v.WithLabelValues(lvs...).Observe(x) }
