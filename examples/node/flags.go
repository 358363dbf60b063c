package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/tlsconfig"
)

// errUsage marks a command line or environment the node cannot run with.
var errUsage = errors.New("node: invalid flags")

// options is what the command line and ETCD_* environment ask for.
type options struct {
	cfg      node.Config
	logLevel slog.Level
}

// urlList is a comma-separated list of URLs, as etcd's URL flags take.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

func (l *urlList) Set(s string) error {
	*l = nil
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			*l = append(*l, u)
		}
	}
	return nil
}

// parseOptions reads etcd's flags (one or two dashes, etcd's spellings)
// from args and, for every flag not given there, the matching ETCD_*
// variable from getenv (--data-dir is ETCD_DATA_DIR), as etcd does.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		name                                  = fs.String("name", "default", "human-readable name for this member")
		dataDir                               = fs.String("data-dir", "", "path to the data directory (default ./<name>.etcd)")
		listenClient, advertiseClient         urlList
		listenPeer, advertisePeer             urlList
		initialCluster                        = fs.String("initial-cluster", "", "initial cluster configuration for bootstrapping, name=peerURL,... (default <name>=<first advertised peer URL>)")
		token                                 = fs.String("initial-cluster-token", "etcd-cluster", "initial cluster token for the etcd cluster during bootstrap")
		state                                 = fs.String("initial-cluster-state", "new", "initial cluster state: new or existing")
		join                                  urlList
		certFile, keyFile, caFile             = fs.String("cert-file", "", "path to the client server TLS cert file"), fs.String("key-file", "", "path to the client server TLS key file"), fs.String("trusted-ca-file", "", "path to the client server TLS trusted CA file; clients must present a certificate it signed")
		clientCertAuth                        = fs.Bool("client-cert-auth", false, "enable client cert authentication (implied by --trusted-ca-file)")
		peerCertFile, peerKeyFile, peerCAFile = fs.String("peer-cert-file", "", "path to the peer server TLS cert file"), fs.String("peer-key-file", "", "path to the peer server TLS key file"), fs.String("peer-trusted-ca-file", "", "path to the peer server TLS trusted CA file")
		peerCertAuth                          = fs.Bool("peer-client-cert-auth", false, "enable peer client cert authentication (implied by --peer-trusted-ca-file)")
		heartbeat                             = fs.Uint("heartbeat-interval", 100, "time (in milliseconds) of a heartbeat interval")
		election                              = fs.Uint("election-timeout", 1000, "time (in milliseconds) for an election to timeout")
		quota                                 = fs.Int64("quota-backend-bytes", 0, "raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB)")
		compactMode                           = fs.String("auto-compaction-mode", "periodic", "interpret 'auto-compaction-retention' one of: periodic|revision")
		compactRetention                      = fs.String("auto-compaction-retention", "", "auto compaction retention for mvcc key value store, e.g. 1h or 1000 (empty: off)")
		logLevel                              = fs.String("log-level", "warn", "log level: debug, info, warn or error")
	)
	fs.Var(&listenClient, "listen-client-urls", "list of URLs to listen on for client traffic (default http://127.0.0.1:2379)")
	fs.Var(&advertiseClient, "advertise-client-urls", "list of this member's client URLs to advertise to the public (default: the listen URLs)")
	fs.Var(&listenPeer, "listen-peer-urls", "list of URLs to listen on for peer traffic (default http://127.0.0.1:2380)")
	fs.Var(&advertisePeer, "initial-advertise-peer-urls", "list of this member's peer URLs to advertise to the rest of the cluster (default: the listen URLs)")
	fs.Var(&join, "join", "client endpoints of a running cluster to join: the member is added as a learner, catches up and is promoted (coordkit's addition)")
	if err := fs.Parse(args); err != nil {
		return options{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("%w: unexpected argument %q; flags look like --name=value", errUsage, fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || envErr != nil {
			return
		}
		env := "ETCD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%w: %s=%q: %w", errUsage, env, v, err)
			}
			given[f.Name] = true
		}
	})
	if envErr != nil {
		return options{}, envErr
	}

	var o options
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return options{}, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, *logLevel)
	}
	c := &o.cfg
	c.Name = *name
	c.Dir = *dataDir
	if c.Dir == "" {
		c.Dir = *name + ".etcd" // etcd's default: ./<name>.etcd
	}
	c.ClientURLs, c.AdvertiseClientURLs = listenClient, advertiseClient
	c.PeerURLs, c.AdvertisePeerURLs = listenPeer, advertisePeer
	c.ClusterToken = *token
	switch *state {
	case "new":
	case "existing":
		c.JoinExisting = true
	default:
		return options{}, fmt.Errorf("%w: --initial-cluster-state %q: want new or existing", errUsage, *state)
	}
	if *initialCluster != "" {
		c.InitialCluster = map[string]string{}
		for _, kv := range strings.Split(*initialCluster, ",") {
			n, u, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || n == "" || u == "" {
				return options{}, fmt.Errorf("%w: --initial-cluster entry %q: want name=peerURL", errUsage, kv)
			}
			if _, dup := c.InitialCluster[n]; dup {
				return options{}, fmt.Errorf("%w: --initial-cluster names %q twice; coordkit takes one peer URL per member", errUsage, n)
			}
			c.InitialCluster[n] = u
		}
	}
	if len(join) > 0 {
		if given["initial-cluster"] || c.JoinExisting {
			return options{}, fmt.Errorf("%w: --join finds the cluster's members itself; drop --initial-cluster and --initial-cluster-state", errUsage)
		}
		c.Join = &coordkit.ClientConfig{Endpoints: join}
	}
	var err error
	if c.ClientTLS, err = tlsFiles("", *certFile, *keyFile, *caFile, *clientCertAuth); err != nil {
		return options{}, err
	}
	if c.PeerTLS, err = tlsFiles("peer-", *peerCertFile, *peerKeyFile, *peerCAFile, *peerCertAuth); err != nil {
		return options{}, err
	}
	if c.Join != nil && c.ClientTLS != nil {
		// Joining reaches the cluster as a client with this member's own
		// client certificate and CA.
		tc, err := tlsconfig.Client(*c.ClientTLS)
		if err != nil {
			return options{}, fmt.Errorf("%w: TLS for --join: %w", errUsage, err)
		}
		c.Join.TLS = tc
	}
	c.TickInterval = time.Duration(*heartbeat) * time.Millisecond
	c.ElectionTimeout = time.Duration(*election) * time.Millisecond
	c.QuotaBackendBytes = *quota
	c.AutoCompactionMode, c.AutoCompactionRetention = *compactMode, *compactRetention
	return o, nil
}

// tlsFiles turns etcd's TLS flags (prefix "" for clients, "peer-" for
// peers) into coordkit's, or nil when none is set.
func tlsFiles(prefix, cert, key, ca string, certAuth bool) (*tlsconfig.Files, error) {
	if cert == "" && key == "" && ca == "" {
		if certAuth {
			return nil, fmt.Errorf("%w: --%sclient-cert-auth needs --%strusted-ca-file, --%scert-file and --%skey-file", errUsage, prefix, prefix, prefix, prefix)
		}
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, fmt.Errorf("%w: --%scert-file and --%skey-file go together", errUsage, prefix, prefix)
	}
	if certAuth && ca == "" {
		return nil, fmt.Errorf("%w: --%sclient-cert-auth needs --%strusted-ca-file", errUsage, prefix, prefix)
	}
	return &tlsconfig.Files{CertFile: cert, KeyFile: key, CAFile: ca}, nil
}
