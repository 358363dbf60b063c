package kv

import (
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
)

// Option configures a Store (see New).
type Option func(*options)

type options struct {
	codec           any // a Codec[T], checked by New
	maxRequestBytes int
	pageSize        int64
	updateAttempts  int
	updateBackoff   backoff.Policy
	logger          *slog.Logger
	metrics         *kvMetrics // nil: not measured
	err             error
}

func defaultOptions() options {
	return options{
		maxRequestBytes: MaxRequestBytes,
		updateAttempts:  DefaultUpdateAttempts,
		updateBackoff:   backoff.Policy{Initial: time.Millisecond, Max: 200 * time.Millisecond},
		logger:          slog.Default(),
	}
}

// fail records the first bad option: opt is how it was called, why what
// it needs.
func (o *options) fail(opt, why string) {
	if o.err == nil {
		o.err = fmt.Errorf("kv: %s: %w: %s", opt, ErrInvalidArgument, why)
	}
}

// WithCodec sets how values are stored; JSONCodec is the default. The codec's
// type must be the Store's: New fails with ErrInvalidArgument otherwise.
//
//	names, err := kv.New[string](cli, "names", kv.WithCodec(kv.StringCodec))
func WithCodec[T any](c Codec[T]) Option {
	return func(o *options) {
		if c == nil {
			o.fail("WithCodec(nil)", "pass a Codec, or leave the option out for JSON")
			return
		}
		o.codec = c
	}
}

// WithMaxRequestBytes sets the request size limit keys and values are checked
// against before sending: set it to the server's --max-request-bytes when that
// is not the default MaxRequestBytes.
func WithMaxRequestBytes(n int) Option {
	return func(o *options) {
		if n < 4*requestOverhead {
			o.fail(fmt.Sprintf("WithMaxRequestBytes(%d)", n), fmt.Sprintf("want at least %d bytes", 4*requestOverhead))
			return
		}
		o.maxRequestBytes = n
	}
}

// WithPageSize sets how many keys List (and a Watch resync) reads per
// request. By default pages are sized by bytes instead: the first holds
// 1,000 keys, each later one as many as fit about 2 MiB at the mean size of
// the keys read so far (half of gRPC's default 4 MiB message limit). Set it
// when values vary so much in size that a page could reach the limit of
// the client's MaxCallRecvMsgSize.
func WithPageSize(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.fail(fmt.Sprintf("WithPageSize(%d)", n), "want at least 1")
			return
		}
		o.pageSize = int64(n)
	}
}

// DefaultUpdateAttempts is how many times Update tries before giving up with
// ErrTooManyConflicts.
const DefaultUpdateAttempts = 32

// WithUpdateRetry sets how many attempts Update makes (at least 1) and the
// jittered backoff between them (from initial, doubling up to max; defaults
// 1 ms and 200 ms).
func WithUpdateRetry(attempts int, initial, max time.Duration) Option {
	return func(o *options) {
		if attempts < 1 || initial <= 0 || max < initial {
			o.fail(fmt.Sprintf("WithUpdateRetry(%d, %v, %v)", attempts, initial, max), "want attempts ≥ 1 and 0 < initial ≤ max")
			return
		}
		o.updateAttempts = attempts
		o.updateBackoff = backoff.Policy{Initial: initial, Max: max}
	}
}

// WithLogger sets where a Store and its Watchers and Batchers log their
// background work (default slog.Default(); nil means the default too):
// watch retries (debug), resyncs (info) and watches ending on an error
// (warn); Batcher txns that failed (warn when the cluster refused them or
// their outcome is unknown, debug when one operation was at fault). Every
// failure is also returned to the caller it concerns. Values are never
// logged, keys are. To log nothing, pass slog.New(slog.DiscardHandler).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l == nil {
			l = slog.Default()
		}
		o.logger = l
	}
}

// ReadOption adjusts Get and List.
type ReadOption func(*readOptions)

type readOptions struct {
	rev          int64
	serializable bool
	err          error
}

// Serializable reads from the member the client is connected to without a
// round of consensus: faster, available without a leader, possibly stale
// (like etcdctl get --consistency=s).
func Serializable() ReadOption {
	return func(o *readOptions) { o.serializable = true }
}

// AtRevision reads the state as it was at revision rev (like etcdctl get
// --rev). A revision etcd has compacted away gives ErrCompacted.
func AtRevision(rev int64) ReadOption {
	return func(o *readOptions) {
		if rev <= 0 {
			o.err = fmt.Errorf("kv: AtRevision(%d): %w: revisions start at 1", rev, ErrInvalidArgument)
			return
		}
		o.rev = rev
	}
}

func readOpts(opts []ReadOption) (readOptions, error) {
	var o readOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o, o.err
}

// PutOption adjusts a write (Put, Swap, Create, CompareAndSwap, Update and
// the Batcher's Put).
type PutOption func(*putOptions)

type putOptions struct {
	lease clientv3.LeaseID
	err   error
}

// WithLease attaches the key to a lease (like etcdctl put --lease): the key
// is deleted when the lease expires or is revoked. A lease etcd does not have
// fails the write with ErrLeaseNotFound.
func WithLease(id clientv3.LeaseID) PutOption {
	return func(o *putOptions) {
		if id <= 0 {
			o.err = fmt.Errorf("kv: WithLease(%d): %w: lease IDs are positive", id, ErrInvalidArgument)
			return
		}
		o.lease = id
	}
}

func putOpts(opts []PutOption) (putOptions, error) {
	var o putOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o, o.err
}

func (o putOptions) clientOpts() []clientv3.OpOption {
	if o.lease == 0 {
		return nil
	}
	return []clientv3.OpOption{clientv3.WithLease(o.lease)}
}
