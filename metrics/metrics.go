// Package metrics is the interface coordkit's packages report measurements
// to, so that no program pulls in a metrics library it did not ask for: the
// lock, election, discovery, kv and lease packages take a Provider through
// their WithMetrics option, and report nothing (at the cost of one nil
// check) without it. The prom subpackage implements Provider on a
// prometheus.Registerer the program supplies; any other backend can
// implement it too. This follows Kubernetes' leaderelection, whose metrics
// provider keeps Prometheus out of the core.
//
// Metric names follow Prometheus conventions, coordkit_<package>_<name>_<unit>
// (counters end in _total), and label values come from small fixed sets
// each package documents: never keys, lease IDs, or other unbounded values.
package metrics

// Provider creates the instruments a package reports to. A package asks
// for each instrument once per handle; a Provider should return the same
// underlying metric for the same Desc.Name, so that many handles of one
// package share their metrics. Implementations must be safe for
// concurrent use.
type Provider interface {
	Counter(d Desc) Counter
	Gauge(d Desc) Gauge
	Histogram(d Desc) Histogram
}

// Desc describes one metric.
type Desc struct {
	// Name is the full metric name, coordkit_<package>_<name>_<unit>.
	Name string
	// Help says what is measured.
	Help string
	// Labels are the label names; every report passes one value per label,
	// in this order.
	Labels []string
	// Buckets are a histogram's upper bounds; nil means the provider's
	// default.
	Buckets []float64
}

// Counter is a monotonically increasing count.
type Counter interface {
	Add(delta float64, labelValues ...string)
}

// Gauge is a value that goes up and down.
type Gauge interface {
	Set(v float64, labelValues ...string)
	Add(delta float64, labelValues ...string)
}

// Histogram records a distribution of observations (durations in seconds,
// sizes in units of the name).
type Histogram interface {
	Observe(v float64, labelValues ...string)
}

// Bucket sets for histograms.
var (
	// LatencyBuckets span 100 µs to about 100 s: request latencies, lock
	// waits and holds.
	LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 50, 100}
	// SizeBuckets span 1 to 4096, in powers of two: batch sizes.
	SizeBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}
)
