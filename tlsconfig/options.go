package tlsconfig

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"
)

// Option configures Client, Server, ClientFromPEM and ServerFromPEM.
type Option func(*options)

type options struct {
	serverName   string
	noClientAuth bool
	noChainCheck bool
	minVersion   uint16
	logger       *slog.Logger
}

func (o options) checks(allowEmpty bool) checks {
	return checks{now: time.Now(), allowEmpty: allowEmpty, skipChain: o.noChainCheck}
}

func buildOptions(opts []Option) (options, error) {
	o := options{minVersion: tls.VersionTLS12, logger: slog.Default()}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	switch o.minVersion {
	case tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13:
	default:
		return o, fmt.Errorf("%w: WithMinVersion(%#x) is not a TLS version: use tls.VersionTLS12 or tls.VersionTLS13", ErrInvalidArgument, o.minVersion)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o, nil
}

// WithServerName sets the name a client expects in the server's
// certificate (a DNS name or IP among its SANs). Without it the name is
// taken from the address dialled (crypto/tls and gRPC do this). Servers
// ignore it.
func WithServerName(name string) Option {
	return func(o *options) { o.serverName = name }
}

// WithoutClientAuth makes a server accept clients that present no
// certificate. A certificate a client does present is still verified
// against the CA when one is configured. Clients ignore it.
func WithoutClientAuth() Option {
	return func(o *options) { o.noClientAuth = true }
}

// WithoutChainCheck drops the requirement that this side's certificate
// chain to CAFile. That check catches the common mistake of pairing a
// certificate with the wrong CA (which otherwise surfaces as an "unknown
// authority" handshake error on the other side), but deployments where
// the peer trusts a different CA than the one that issued this side's
// certificate need it off. The certificate and the CA are still checked
// on their own.
func WithoutChainCheck() Option {
	return func(o *options) { o.noChainCheck = true }
}

// WithMinVersion sets the lowest TLS version accepted (default
// tls.VersionTLS12, as etcd).
func WithMinVersion(v uint16) Option {
	return func(o *options) { o.minVersion = v }
}

// WithLogger sets where certificate reloads and rejected rotations are
// reported (default slog.Default()). Key material is never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}
