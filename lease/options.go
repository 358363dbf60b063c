package lease

import "log/slog"

// Option adjusts Grant and Open.
type Option func(*options)

type options struct {
	metrics *leaseMetrics // nil: not measured
	logger  *slog.Logger
}

// WithLogger sets where the lease's keep-alive logs (default
// slog.Default(); nil means the default too): renewals that failed and will
// be retried (debug) and the loss of the lease (warn; Revoke, Close and the
// end of KeepAlive's context are the owner's doing and are not logged).
// Every loss is also reported through Done and Err.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}
