package coordtest

import (
	"log/slog"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"golang.org/x/crypto/bcrypt"

	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/tlsconfig"
)

// Option adjusts the members NewNode and NewCluster start.
type Option func(*options)

type options struct {
	tick, election time.Duration
	quota          int64
	level          slog.Level
	fsync          bool
	embed          func(*embed.Config)
	autoCompaction string
	configure      []func(*node.Config)
	ca             *tlsconfig.CA // members serve clients and peers over mutual TLS from it
	fullAccess     string        // why the test needs the whole keyspace (WithFullAccess)
}

func defaults() options {
	return options{
		tick:     10 * time.Millisecond,
		election: 100 * time.Millisecond,
		quota:    256 << 20,
		level:    slog.LevelWarn,
	}
}

// WithRaftTiming sets the raft heartbeat interval and election timeout
// (defaults 10 ms and 100 ms).
func WithRaftTiming(tick, election time.Duration) Option {
	return func(o *options) { o.tick, o.election = tick, election }
}

// WithQuota sets the backend quota in bytes (default 256 MiB).
func WithQuota(bytes int64) Option { return func(o *options) { o.quota = bytes } }

// WithLogLevel sets the least level of etcd's logs kept for a failing test
// (default warn).
func WithLogLevel(l slog.Level) Option { return func(o *options) { o.level = l } }

// WithFsync turns fsync back on, for benchmarks that measure durable writes.
func WithFsync() Option { return func(o *options) { o.fsync = true } }

// WithAutoCompaction enables etcd's periodic or revision auto-compaction,
// with the given mode and retention (for example "revision", "100").
func WithAutoCompaction(mode, retention string) Option {
	return func(o *options) { o.autoCompaction = mode + "=" + retention }
}

// WithEmbed applies f to every member's etcd configuration, last.
func WithEmbed(f func(*embed.Config)) Option { return func(o *options) { o.embed = f } }

// WithNodeConfig applies f to every member's node.Config after coordtest has
// filled it in (URLs, data directory, timing): for fields coordtest does
// not set, such as Auth and ClientUser.
func WithNodeConfig(f func(*node.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, f) }
}

// WithFullAccess declares that the test needs a client that may do
// anything on the whole keyspace: compaction, maintenance, member APIs,
// keys outside any namespace, or etcdctl and other clients it builds itself
// from Endpoints. It changes nothing in the default and external modes; in
// secure mode (EnvSecure), whose clients are a least-privileged user
// confined to a namespace, NewServer skips the test and gives reason.
func WithFullAccess(reason string) Option {
	return func(o *options) { o.fullAccess = reason }
}

// embedConfig applies coordtest's etcd settings, then WithEmbed's: the
// cheapest password hashing (auth tests create users by the dozen; bcrypt
// at etcd's default cost takes a large part of a second per password).
func (o *options) embedConfig(ec *embed.Config) {
	ec.BcryptCost = uint(bcrypt.MinCost)
	if o.embed != nil {
		o.embed(ec)
	}
}

// finish applies the WithNodeConfig functions to cfg.
func (o *options) finish(cfg *node.Config) {
	for _, f := range o.configure {
		f(cfg)
	}
}

func (o *options) nodeConfig(name string) node.Config {
	level := o.level
	cfg := node.Config{
		Name:              name,
		ClientURLs:        []string{"http://127.0.0.1:0"},
		PeerURLs:          []string{"http://127.0.0.1:0"},
		ClusterToken:      "coordtest",
		QuotaBackendBytes: o.quota,
		UnsafeNoFsync:     !o.fsync,
		TickInterval:      o.tick,
		ElectionTimeout:   o.election,
		LogLevel:          &level,
		ReadyTimeout:      20 * time.Second,
		Embed:             o.embedConfig,
	}
	if o.autoCompaction != "" {
		mode, ret, _ := cut(o.autoCompaction)
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = mode, ret
	}
	return cfg
}

func cut(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
