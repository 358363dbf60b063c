package node

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/tlsconfig"
)

// Default URLs, the same as etcd's: clients on 2379, peers on 2380.
const (
	DefaultClientURL = "http://127.0.0.1:2379"
	DefaultPeerURL   = "http://127.0.0.1:2380"
)

// DefaultQuotaBackendBytes is the backend quota a node gets when
// Config.QuotaBackendBytes is zero: 2 GiB, etcd's own default. Setting
// it explicitly matters because bbolt maps the quota up front.
const DefaultQuotaBackendBytes = 2 << 30

// Config configures an embedded etcd member. The zero value (plus a
// Name, defaulting to "default") starts a single-member cluster on etcd's
// default ports with an ephemeral data directory.
//
// Members of one cluster, in one process, in several, or on several machines,
// share InitialCluster and ClusterToken and each set their own Name, Dir and
// URLs, and start together. Members started one after another instead start
// the first alone and the others with Join; StartCluster does the wiring for
// members of this process.
type Config struct {
	// Name is this member's name, unique in the cluster; "default" if empty.
	Name string

	// Dir is the data directory. Empty means an ephemeral directory that is
	// removed on Close. Two members never share a Dir.
	Dir string

	// ClientURLs and PeerURLs are the URLs this member listens on. Defaults:
	// DefaultClientURL and DefaultPeerURL. Port 0 picks a free port: for a
	// single member, a member that Joins, or members of StartCluster (another
	// member's InitialCluster entry cannot say port 0, since its real port is
	// not known here).
	ClientURLs, PeerURLs []string

	// AdvertiseClientURLs and AdvertisePeerURLs are the URLs other machines
	// use to reach this member; default: the listen URLs (with the real port
	// when the port was 0).
	AdvertiseClientURLs, AdvertisePeerURLs []string

	// InitialCluster maps every member's name to its advertised peer URL.
	// Empty means a cluster of this member alone.
	InitialCluster map[string]string

	// ClusterToken isolates clusters from each other: members with different
	// tokens refuse each other. Default "coordkit".
	ClusterToken string

	// JoinExisting makes this member join a running cluster (etcd's
	// --initial-cluster-state=existing), after it was added with
	// coordkit.AddMember or coordkit.AddLearner; otherwise the member
	// bootstraps a new cluster. Join
	// does all of that in one step.
	JoinExisting bool

	// Join makes this member join the running cluster reached through
	// Join's endpoints (any client endpoint of any member will do), with no
	// InitialCluster or JoinExisting to set: Start adds it as a learner,
	// starts it, waits until it has caught up, and promotes it to a voting
	// member. On any failure it removes what it added, so no half-added
	// member stays in the member list. A member whose Dir already holds data
	// restarts as itself and ignores Join.
	//
	// This is how members started one after another (as separate processes
	// on separate machines are) form a cluster: the first starts alone,
	// every later one joins. etcd allows one learner at a time and a new
	// voter only once the leader has been connected to the others for 5 s,
	// so a join may wait a few seconds for an earlier one (its definite
	// refusals are retried within ReadyTimeout).
	Join *coordkit.ClientConfig

	// ClientTLS serves clients over mutual TLS: clients must present a
	// certificate signed by ClientTLS.CAFile. Client URLs must use https.
	ClientTLS *tlsconfig.Files

	// PeerTLS secures raft traffic between members with mutual TLS. Peer
	// URLs must use https.
	PeerTLS *tlsconfig.Files

	// Auth, when set, is applied once the member is ready, through an
	// in-process client acting as root (access.Apply: idempotent, removes
	// nothing the spec does not list), and auth is then enabled. Every
	// member of a cluster may carry the same spec; concurrent applies
	// agree. Auth.RootPassword must be set (a certificate-only root can
	// apply a spec remotely with access.Apply). A failed apply fails
	// Start with ErrAuthSetup.
	Auth *access.Spec

	// AuthTokens is the kind of token members issue once auth is enabled:
	// TokensJWT or TokensSimple (see their doc for the trade-off). Default:
	// JWT when JWT keys are given, or when InitialCluster names more than
	// one member and Auth is set (the keys are then required); simple
	// otherwise. AuthTokenTTL is a token's lifetime (JWT: from issue;
	// simple: since last use); default 5 minutes.
	AuthTokens   string
	AuthTokenTTL time.Duration

	// JWTPrivateKeyFile and JWTPublicKeyFile are the PEM key pair that
	// signs and checks JWT tokens (Ed25519, ECDSA P-256/384/521 or RSA).
	// Every member of a cluster needs the same pair, so a token one member
	// issued is valid at all of them (GenerateJWTKeys makes one). A single
	// member without keys generates an Ed25519 pair into Dir on its first
	// start and reuses it after, so its tokens survive restarts.
	JWTPrivateKeyFile, JWTPublicKeyFile string

	// ClientUser and ClientPassword are the etcd user Node.Client acts as
	// once auth is enabled on the cluster (enabled by Auth, by an earlier
	// run, or by anyone later): the in-process client authenticates against
	// this member and attaches the token to every call, renewing it when it
	// expires or is invalidated, with no gRPC hop. Empty ClientUser means
	// Auth's root user when Auth is set (ClientPassword then defaults to
	// Auth.RootPassword), and otherwise an unauthenticated client, which
	// etcd refuses once auth is on.
	ClientUser, ClientPassword string

	// QuotaBackendBytes caps the database size; 0 means
	// DefaultQuotaBackendBytes. Once it is reached, writes fail with
	// ErrNoSpace until Node.RecoverNoSpace (after deleting data) or a
	// restart with a larger quota.
	QuotaBackendBytes int64

	// AutoCompactionMode is "periodic" (the default) or "revision" (etcd's
	// --auto-compaction-mode); AutoCompactionRetention is its retention, a
	// duration like "30m" or a revision count like "10000". An empty
	// retention means DefaultAutoCompactionRetention (periodic, one hour of
	// history); "0" disables auto-compaction.
	AutoCompactionMode, AutoCompactionRetention string

	// UnsafeNoFsync skips fsync: much faster, but a power loss (not a
	// process crash) can lose acknowledged writes and corrupt the member.
	// For tests only.
	UnsafeNoFsync bool

	// TickInterval and ElectionTimeout are raft's heartbeat and election
	// timings (etcd's --heartbeat-interval and --election-timeout); defaults
	// 100ms and 1s. etcd grants no lease shorter than 1.5 ×
	// ElectionTimeout, and a lease survives a change of leader only from
	// coordkit.MinLeaseTTL(ElectionTimeout) = 3 × ElectionTimeout + 1 s (4 s
	// with the default); check TTLs with Node.CheckLeaseTTL.
	TickInterval, ElectionTimeout time.Duration

	// Logger receives etcd's logs. Nil means slog.Default(). LogLevel is
	// the least level forwarded; the zero value means slog.LevelWarn, since
	// etcd is chatty at info.
	Logger   *slog.Logger
	LogLevel *slog.Level

	// ReadyTimeout bounds how long Start waits for the member to be
	// ready (its cluster has a leader and the member has caught up). Default
	// 30s.
	ReadyTimeout time.Duration

	// MetricsURLs are extra http URLs where etcd serves its Prometheus
	// /metrics and /health (etcd's --listen-metrics-urls), port 0 for a
	// free port (see Node.MetricsEndpoints). Node.MetricsHandler serves the
	// same metrics without a listener.
	MetricsURLs []string

	// Embed, if set, is applied to etcd's configuration last: an escape
	// hatch to any etcd setting coordkit does not name.
	Embed func(*embed.Config)

	restoreFrom string // a snapshot to restore before starting (StartFromSnapshot)
}

func (c *Config) name() string {
	if c.Name == "" {
		return "default"
	}
	return c.Name
}

func (c *Config) readyTimeout() time.Duration {
	if c.ReadyTimeout <= 0 {
		return 30 * time.Second
	}
	return c.ReadyTimeout
}

// parseURLs validates listen or advertise URLs: http or https, a host and a
// numeric port.
func parseURLs(field string, raw []string, wantTLS bool) ([]url.URL, error) {
	out := make([]url.URL, 0, len(raw))
	for _, s := range raw {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q: %v", ErrInvalidArgument, field, s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("%w: %s %q: scheme must be http or https, like %q", ErrInvalidArgument, field, s, DefaultClientURL)
		}
		if wantTLS && u.Scheme != "https" {
			return nil, fmt.Errorf("%w: %s %q: TLS is configured, so the URL must use https", ErrInvalidArgument, field, s)
		}
		if !wantTLS && u.Scheme == "https" {
			return nil, fmt.Errorf("%w: %s %q: https needs TLS files (set ClientTLS or PeerTLS)", ErrInvalidArgument, field, s)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%w: %s %q: want scheme://host:port", ErrInvalidArgument, field, s)
		}
		if _, err := net.LookupPort("tcp", port); err != nil {
			return nil, fmt.Errorf("%w: %s %q: bad port %q", ErrInvalidArgument, field, s, port)
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("%w: %s %q: a URL may not have a path", ErrInvalidArgument, field, s)
		}
		u.Path = ""
		out = append(out, *u)
	}
	return out, nil
}

// initialClusterString renders InitialCluster as etcd's
// "name=url,name=url", sorted for a stable order.
func initialClusterString(m map[string]string) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+"="+m[n])
	}
	return strings.Join(parts, ",")
}

func hasZeroPort(us []url.URL) bool {
	for _, u := range us {
		if u.Port() == "0" {
			return true
		}
	}
	return false
}

// clientUser is the user Node.Client acts as, and its password.
func (c *Config) clientUser() (string, string) {
	if c.ClientUser == "" && c.Auth != nil {
		return "root", c.Auth.RootPassword
	}
	if c.ClientPassword == "" && c.Auth != nil {
		for _, u := range c.Auth.Users {
			if u.Name == c.ClientUser {
				return u.Name, u.Password
			}
		}
	}
	return c.ClientUser, c.ClientPassword
}

// validateAuth checks the auth fields.
func (c *Config) validateAuth() error {
	if err := c.validateTokens(); err != nil {
		return err
	}
	if c.ClientPassword != "" && c.ClientUser == "" {
		return fmt.Errorf("%w: ClientPassword is set without a ClientUser", ErrInvalidArgument)
	}
	if c.Auth == nil {
		return nil
	}
	if c.Auth.RootPassword == "" {
		return fmt.Errorf("%w: Auth.RootPassword is empty: the node applies the spec as root through its in-process client, which needs root's password (apply a certificate-only root's spec remotely with access.Apply)", ErrInvalidArgument)
	}
	if err := c.Auth.Validate(); err != nil {
		return fmt.Errorf("%w: Auth: %w", ErrInvalidArgument, err)
	}
	return nil
}
