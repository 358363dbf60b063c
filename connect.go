package coordkit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/zaplog"
)

// ClientConfig says how to reach a running etcd cluster.
type ClientConfig struct {
	// Endpoints are the members' client URLs or host:port pairs; at least
	// one is needed.
	Endpoints []string

	// TLS, when set, is used for every connection (see the tlsconfig
	// package for mutual TLS from certificate files).
	TLS *tls.Config

	// Username and Password authenticate as an etcd user when the cluster
	// has auth enabled. With client certificates and no Username, etcd
	// takes the user name from the certificate's CN.
	Username, Password string

	// DialTimeout bounds how long Connect waits for a first answer;
	// default 5s.
	DialTimeout time.Duration

	// Logger receives the client's logs (etcd's zap output, bridged); nil
	// means slog.Default(). LogLevel is the least level forwarded, warn by
	// default.
	Logger   *slog.Logger
	LogLevel *slog.Level
}

// Connect returns a client for the cluster described by cfg, once at least
// one endpoint answered a status request within cfg.DialTimeout. The
// caller owns the client and must Close it.
//
// Errors wrap ErrInvalidArgument; ErrAuthRefused together with etcd's reason
// (rpctypes.ErrUserEmpty: no credentials; rpctypes.ErrAuthFailed: unknown
// user or wrong password); ErrTLSRefused together with the reason
// (ErrClientCertificateRequired, tlsconfig.ErrUnknownAuthority,
// tlsconfig.ErrExpired, tlsconfig.ErrHostMismatch); ErrUnreachable
// (naming the endpoints); or ctx's error. Messages read
// `coordkit: connect: <sentinel>: <details>`.
func Connect(ctx context.Context, cfg ClientConfig) (*clientv3.Client, error) {
	cli, err := connect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("coordkit: connect: %w", err)
	}
	return cli, nil
}

func connect(ctx context.Context, cfg ClientConfig) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: ClientConfig.Endpoints is empty; name at least one member, like %q", ErrInvalidArgument, "127.0.0.1:2379")
	}
	for _, ep := range cfg.Endpoints {
		if strings.TrimSpace(ep) == "" {
			return nil, fmt.Errorf("%w: ClientConfig.Endpoints has an empty entry", ErrInvalidArgument)
		}
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, fmt.Errorf("%w: ClientConfig.Password is set without a Username", ErrInvalidArgument)
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	lg, level := cfg.Logger, slog.LevelWarn
	if lg == nil {
		lg = slog.Default()
	}
	if cfg.LogLevel != nil {
		level = *cfg.LogLevel
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		TLS:         cfg.TLS,
		Username:    cfg.Username,
		Password:    cfg.Password,
		DialTimeout: timeout,
		Logger:      zaplog.New(lg, level, nil, nil),
		Context:     context.WithoutCancel(ctx),
	})
	if err != nil {
		// With a user name, etcd's client authenticates while dialling.
		if rerr := authRefusal(cfg.Endpoints, cfg.Username, err); rerr != nil {
			return nil, rerr
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (endpoints %v)", ctx.Err(), cfg.Endpoints)
		}
		if terr := diagnoseTLS(ctx, cfg.Endpoints, cfg.TLS); terr != nil {
			return nil, terr
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w within the dial timeout (%v): tried %v; check the endpoints, that etcd runs there, and TLS settings (https endpoints need a TLS config)",
				ErrUnreachable, timeout, cfg.Endpoints)
		}
		return nil, fmt.Errorf("endpoints %v: %w", cfg.Endpoints, err)
	}
	if cfg.Username != "" {
		cli.Watcher = newReauthWatcher(cli)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := probe(pctx, cli, cfg.Endpoints); err != nil {
		cli.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (endpoints %v)", ctx.Err(), cfg.Endpoints)
		}
		if errors.Is(err, ErrUnreachable) {
			if terr := diagnoseTLS(ctx, cfg.Endpoints, cfg.TLS); terr != nil {
				return nil, terr
			}
		}
		return nil, err
	}
	return cli, nil
}

// probe asks every endpoint for its status at once and succeeds with the
// first answer. With auth enabled, a request that needs a token is made too,
// so a wrong password fails here rather than on first use.
func probe(ctx context.Context, cli *clientv3.Client, endpoints []string) error {
	errc := make(chan error, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			_, err := cli.Status(ctx, ep)
			errc <- err
		}()
	}
	var errs []error
	for range endpoints {
		err := <-errc
		if err == nil {
			if cli.Username != "" {
				// Authenticate now: the client fetches a token on this call.
				if _, err := cli.Get(ctx, "\x00coordkit-probe", clientv3.WithCountOnly(), clientv3.WithSerializable()); err != nil {
					if rerr := authRefusal(endpoints, cli.Username, err); rerr != nil {
						return rerr
					}
				}
			}
			return nil
		}
		if rerr := authRefusal(endpoints, cli.Username, err); rerr != nil {
			return rerr // an answer: the cluster refused who we are
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.New("no answer")
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w within the dial timeout: tried %v: %v; check the endpoints, that etcd runs there, and TLS settings (https endpoints need a TLS config)",
		ErrUnreachable, endpoints, errors.Join(errs...))
}
