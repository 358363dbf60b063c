package node

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit/tlsconfig"
)

// startPlan is what buildEmbedConfig decided besides etcd's own config.
type startPlan struct {
	logger   *slog.Logger
	level    slog.Level
	reserved map[string]bool // host:port addresses coordkit picked for port 0
	listen   []url.URL       // every listen URL, for error messages
}

// buildEmbedConfig validates cfg and turns it into etcd's configuration.
func buildEmbedConfig(cfg *Config) (*embed.Config, *startPlan, error) {
	plan := &startPlan{logger: cfg.Logger, level: slog.LevelWarn, reserved: map[string]bool{}}
	if plan.logger == nil {
		plan.logger = slog.Default()
	}
	if cfg.LogLevel != nil {
		plan.level = *cfg.LogLevel
	}
	name := cfg.name()
	if err := cfg.validateAuth(); err != nil {
		return nil, nil, err
	}
	orDefault := func(v []string, d string) []string {
		if len(v) == 0 {
			return []string{d}
		}
		return v
	}
	clientTLS, peerTLS := cfg.ClientTLS != nil, cfg.PeerTLS != nil
	defClient, defPeer := DefaultClientURL, DefaultPeerURL
	if clientTLS {
		defClient = "https://127.0.0.1:2379"
	}
	if peerTLS {
		defPeer = "https://127.0.0.1:2380"
	}
	lc, err := parseURLs("ClientURLs", orDefault(cfg.ClientURLs, defClient), clientTLS)
	if err != nil {
		return nil, nil, err
	}
	lp, err := parseURLs("PeerURLs", orDefault(cfg.PeerURLs, defPeer), peerTLS)
	if err != nil {
		return nil, nil, err
	}
	ac, err := parseURLs("AdvertiseClientURLs", cfg.AdvertiseClientURLs, clientTLS)
	if err != nil {
		return nil, nil, err
	}
	ap, err := parseURLs("AdvertisePeerURLs", cfg.AdvertisePeerURLs, peerTLS)
	if err != nil {
		return nil, nil, err
	}
	for n, u := range cfg.InitialCluster {
		us, err := parseURLs("InitialCluster["+n+"]", []string{u}, peerTLS)
		if err != nil {
			return nil, nil, err
		}
		if n != name && hasZeroPort(us) {
			return nil, nil, fmt.Errorf("%w: InitialCluster[%s] = %q: another member's port cannot be 0, its real port is not known here; start members of one process with StartCluster, or start the first alone and let the others Join", ErrInvalidArgument, n, u)
		}
	}
	if len(cfg.InitialCluster) > 0 {
		if _, ok := cfg.InitialCluster[name]; !ok {
			return nil, nil, fmt.Errorf("%w: InitialCluster has no entry for this member's Name %q", ErrInvalidArgument, name)
		}
	}
	if cfg.TickInterval < 0 || cfg.ElectionTimeout < 0 || (cfg.TickInterval > 0 && cfg.ElectionTimeout > 0 && cfg.ElectionTimeout < 5*cfg.TickInterval) {
		return nil, nil, fmt.Errorf("%w: ElectionTimeout %v must be at least 5 × TickInterval %v", ErrInvalidArgument, cfg.ElectionTimeout, cfg.TickInterval)
	}

	// Resolve port 0 to free ports now, so advertised URLs are real.
	if err := reservePorts(lc, plan); err != nil {
		return nil, nil, err
	}
	if err := reservePorts(lp, plan); err != nil {
		return nil, nil, err
	}
	plan.listen = append(append([]url.URL(nil), lc...), lp...)
	lm, err := metricsURLs(cfg, plan)
	if err != nil {
		return nil, nil, err
	}
	if len(ac) == 0 {
		ac = advertiseFor(lc)
	}
	if len(ap) == 0 {
		ap = advertiseFor(lp)
	}

	ec := embed.NewConfig()
	ec.Name = name
	ec.ListenClientUrls, ec.AdvertiseClientUrls = lc, ac
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = lp, ap
	ec.ListenMetricsUrls = lm
	if len(cfg.InitialCluster) > 0 {
		ic := make(map[string]string, len(cfg.InitialCluster))
		for k, v := range cfg.InitialCluster {
			ic[k] = v
		}
		if u, _ := url.Parse(ic[name]); u != nil && u.Port() == "0" {
			ic[name] = ap[0].String() // this member's own entry may say port 0
		}
		ec.InitialCluster = initialClusterString(ic)
	} else {
		ec.InitialCluster = name + "=" + ap[0].String()
	}
	ec.InitialClusterToken = cfg.ClusterToken
	if ec.InitialClusterToken == "" {
		ec.InitialClusterToken = "coordkit"
	}
	ec.ClusterState = embed.ClusterStateFlagNew
	if cfg.JoinExisting {
		ec.ClusterState = embed.ClusterStateFlagExisting
	}
	if clientTLS {
		ec.ClientTLSInfo = tlsInfo(cfg.ClientTLS)
	}
	if peerTLS {
		ec.PeerTLSInfo = tlsInfo(cfg.PeerTLS)
	}
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	if ec.QuotaBackendBytes == 0 {
		ec.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if ec.AutoCompactionMode, ec.AutoCompactionRetention, err = autoCompaction(cfg); err != nil {
		return nil, nil, err
	}
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	if cfg.TickInterval > 0 {
		ec.TickMs = uint(cfg.TickInterval / time.Millisecond)
	}
	if cfg.ElectionTimeout > 0 {
		ec.ElectionMs = uint(cfg.ElectionTimeout / time.Millisecond)
	}
	ec.Logger = "zap"
	ec.LogOutputs = []string{"stderr"} // unused: the logger builder below replaces zap's outputs
	return ec, plan, nil
}

func tlsInfo(f *tlsconfig.Files) transport.TLSInfo {
	return transport.TLSInfo{
		CertFile:       f.CertFile,
		KeyFile:        f.KeyFile,
		TrustedCAFile:  f.CAFile,
		ClientCertAuth: f.CAFile != "",
	}
}

// reservePorts replaces port 0 in us with free ports, remembering them so a
// bind race can be retried rather than reported.
func reservePorts(us []url.URL, plan *startPlan) error {
	for i, u := range us {
		if u.Port() != "0" {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(u.Hostname(), "0"))
		if err != nil {
			return fmt.Errorf("%w: %s: cannot listen on %s: %v", ErrInvalidArgument, u.String(), u.Hostname(), err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		us[i].Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
		plan.reserved[us[i].Host] = true
	}
	return nil
}

// advertiseFor derives advertise URLs from listen URLs; an unspecified
// listen host (0.0.0.0, ::) is advertised as loopback, the only address
// coordkit can be sure of.
func advertiseFor(listen []url.URL) []url.URL {
	out := make([]url.URL, len(listen))
	for i, u := range listen {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
			u.Host = net.JoinHostPort("127.0.0.1", u.Port())
		}
		out[i] = u
	}
	return out
}
