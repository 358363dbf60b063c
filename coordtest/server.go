package coordtest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
)

// Server is one etcd server for a test that needs no faults and no
// in-process access: only clients. By default it is an embedded member, as
// NewNode starts; when the environment variable named by EnvEtcdBinary
// names an etcd executable, it is that etcd running as a separate process,
// so the same test checks coordkit against another server version. Client
// suites obtain their servers through NewServer; tests that inject faults
// use NewNode or NewCluster, which skip in external mode.
//
// In secure mode (EnvSecure) it is a 3-member cluster with mutual TLS and
// auth on, and its clients act as a user confined to a prefix of the
// test's own, with their keys, watches and leases namespaced under it.
type Server struct {
	node     *Node         // embedded mode
	proc     *process      // external mode
	secure   *secureServer // secure mode
	client   *clientv3.Client
	version  string
	external bool
}

// NewServer starts an etcd server for the test, ready on return and
// stopped when the test ends: an embedded member, or, when EnvEtcdBinary is
// set, a fresh etcd process from that binary on free loopback ports with a
// temporary data directory. Options apply to both; WithEmbed and
// WithNodeConfig, which only an embedded member understands, skip the test
// in external mode. In secure mode (EnvSecure) it starts the secured
// 3-member cluster Server describes, and WithFullAccess skips the test. It
// fails the test if the server cannot start.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := defaults()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	s := &Server{}
	bin := externalBinary()
	switch {
	case bin != "" && secureMode():
		t.Fatalf("coordtest: %s and %s=1 are both set: secure mode runs embedded members only; unset one", EnvEtcdBinary, EnvSecure)
	case secureMode():
		s.secure = startSecure(t, &o)
		s.client = s.secure.client(t)
	case bin != "":
		if o.embed != nil || len(o.configure) > 0 {
			t.Skipf("coordtest: skipped against the external etcd %s (%s is set): the test configures its member with WithEmbed or WithNodeConfig, which need an embedded member", bin, EnvEtcdBinary)
		}
		s.proc = startProcess(t, bin, &o)
		s.external = true
		s.client = connect(t, coordkit.ClientConfig{Endpoints: s.proc.endpoints})
	default:
		s.node = NewNode(t, opts...)
		s.client = s.node.Client()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := coordkit.EndpointStatus(ctx, s.client, s.Endpoints()[0])
	if err != nil {
		t.Fatalf("coordtest: status of the test's etcd server: %v", err)
	}
	s.version = st.Version
	return s
}

// Client is a client of the server, closed when the test ends: the
// member's in-process client in embedded mode, a gRPC client from
// coordkit.Connect in external mode, and in secure mode such a client over
// mutual TLS acting as the test's user, namespaced under its prefix.
func (s *Server) Client() *clientv3.Client { return s.client }

// NewClient returns a new gRPC client of the server from coordkit.Connect,
// over loopback in every mode (in secure mode, as Client is), closed when
// the test ends.
func (s *Server) NewClient(t testing.TB) *clientv3.Client {
	t.Helper()
	if s.secure != nil {
		return s.secure.client(t)
	}
	return connect(t, coordkit.ClientConfig{Endpoints: s.Endpoints()})
}

// Endpoints are the server's client URLs (https ones in secure mode, which
// need the mode's client certificate and user: a test that dials them
// itself declares WithFullAccess).
func (s *Server) Endpoints() []string {
	if s.secure != nil {
		return append([]string(nil), s.secure.endpoints...)
	}
	if s.external {
		return append([]string(nil), s.proc.endpoints...)
	}
	return s.node.Endpoints()
}

// Version is the server's etcd version, as its status reports it (for
// example "3.4.23").
func (s *Server) Version() string { return s.version }

// External reports whether the server is a separate etcd process rather
// than an embedded member.
func (s *Server) External() bool { return s.external }

// Secure reports whether the server runs in secure mode (EnvSecure).
func (s *Server) Secure() bool { return s.secure != nil }

// RequireVersion skips the test, saying why, when the server's version is
// older than min ("major.minor", such as "3.5"); why names what the test
// needs from the newer server.
func (s *Server) RequireVersion(t testing.TB, min, why string) {
	t.Helper()
	if versionLess(s.version, min) {
		t.Skipf("coordtest: skipped against etcd %s: the test needs etcd %s or newer (%s)", s.version, min, why)
	}
}

// versionLess reports whether version v ("3.4.23") is older than min
// ("3.5"), comparing the major and minor numbers.
func versionLess(v, min string) bool {
	a, b := majorMinor(v), majorMinor(min)
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	return a[1] < b[1]
}

func majorMinor(v string) [2]int {
	var out [2]int
	for i, part := range strings.SplitN(v, ".", 3) {
		if i == 2 {
			break
		}
		out[i], _ = strconv.Atoi(part)
	}
	return out
}

// connect is coordkit.Connect for a test: the client's logs are kept for a
// failing test, and the client is closed when the test ends.
func connect(t testing.TB, cfg coordkit.ClientConfig) *clientv3.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.Logger = newTestLog(t, slog.LevelWarn)
	cli, err := coordkit.Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("coordtest: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// String names the server for test messages.
func (s *Server) String() string {
	kind := "embedded"
	switch {
	case s.external:
		kind = "external"
	case s.secure != nil:
		kind = "secure 3-member"
	}
	return fmt.Sprintf("%s etcd %s at %v", kind, s.version, s.Endpoints())
}
