package coordtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/tlsconfig"
)

// The credentials of secure mode's test clusters: throwaway, for test
// clusters on loopback that live as long as one test.
const (
	secureRootPassword = "coordtest-root-password"
	secureUser         = "coordtest-user"
	securePassword     = "coordtest-user-password"
	secureRole         = "coordtest-role"
	secureClientCN     = "coordtest-client" // the client certificate's CN: no etcd user

	// secureTick and secureElection are secure mode's default raft timing.
	// Leases of 1 s still outlive a leader change (etcd's minimum TTL is
	// 1.5 × the election timeout).
	secureTick     = 50 * time.Millisecond
	secureElection = 500 * time.Millisecond
)

// secureServer is NewServer's server in secure mode: three members with
// mutual TLS on client and peer ports and auth on, and the test's user,
// whose role is readwrite on prefix and nothing else.
type secureServer struct {
	cluster   *Cluster
	endpoints []string
	prefix    string
	ca        *tlsconfig.CA
	tls       *tls.Config // the client certificate every client presents
}

// startSecure starts the secure mode's cluster for the test, or skips the
// test if it declared WithFullAccess.
func startSecure(t testing.TB, o *options) *secureServer {
	t.Helper()
	if o.fullAccess != "" {
		t.Skipf("coordtest: skipped in secure mode (%s=1): the test needs full access (%s), and secure mode's clients are a user confined to a prefix", EnvSecure, o.fullAccess)
	}
	ca, err := tlsconfig.NewCA(tempDir(t))
	if err != nil {
		t.Fatalf("coordtest: secure mode: %v", err)
	}
	files, err := ca.IssueClient(secureClientCN)
	if err != nil {
		t.Fatalf("coordtest: secure mode: %v", err)
	}
	tc, err := tlsconfig.Client(files)
	if err != nil {
		t.Fatalf("coordtest: secure mode: %v", err)
	}
	s := &secureServer{prefix: securePrefix(t.Name()), ca: ca, tls: tc}
	spec := &access.Spec{
		RootPassword: secureRootPassword,
		Roles:        []access.Role{{Name: secureRole, Permissions: access.KV(s.prefix, access.ReadWrite)}},
		Users:        []access.User{{Name: secureUser, Password: securePassword, Roles: []string{secureRole}}},
	}
	so := *o
	if d := defaults(); so.tick == d.tick && so.election == d.election {
		// Three members over TLS on a loaded machine miss 10 ms heartbeats
		// often enough that a 100 ms election timeout makes spurious
		// elections, which a test sees as "leader changed" on writes.
		so.tick, so.election = secureTick, secureElection
	}
	so.ca = ca
	so.configure = append(so.configure[:len(so.configure):len(so.configure)], func(cfg *node.Config) { cfg.Auth = spec })
	s.cluster = startCluster(t, 3, &so)
	for _, m := range s.cluster.members {
		s.endpoints = append(s.endpoints, m.cfg.ClientURLs...)
	}
	return s
}

// securePrefix is the prefix of the test's keys: "coordtest/" and the
// test's name, with characters other than letters, digits, '-' and '_'
// replaced by '_' ("coordtest/TestX_sub/").
func securePrefix(name string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
	return "coordtest/" + clean + "/"
}

// rawClient is a gRPC client of the cluster over mutual TLS, acting as
// the test's user, not namespaced, closed when the test ends.
func (s *secureServer) rawClient(t testing.TB) *clientv3.Client {
	t.Helper()
	return connect(t, coordkit.ClientConfig{
		Endpoints: s.endpoints,
		TLS:       s.tls,
		Username:  secureUser,
		Password:  securePassword,
	})
}

// client is rawClient with its keys, watches and leases namespaced under
// the test's prefix, so a test's keys, whatever they are, lie inside its
// role. It first checks that the cluster refuses the user a key outside
// the prefix, so secure mode cannot run open by mistake.
func (s *secureServer) client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli := s.rawClient(t)
	if err := s.checkConfined(cli); err != nil {
		t.Fatalf("coordtest: secure mode is not secure: %v", err)
	}
	cli.KV = namespace.NewKV(cli.KV, s.prefix)
	cli.Watcher = namespace.NewWatcher(cli.Watcher, s.prefix)
	cli.Lease = namespace.NewLease(cli.Lease, s.prefix)
	return cli
}

// checkConfined returns an error unless reading a key outside the test's
// prefix through the user's un-namespaced client cli is denied.
func (s *secureServer) checkConfined(cli *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cli.Get(ctx, "coordtest-outside-"+s.prefix)
	if !errors.Is(err, rpctypes.ErrPermissionDenied) {
		return fmt.Errorf("reading a key outside %q as %s: got %v, want %v", s.prefix, secureUser, err, rpctypes.ErrPermissionDenied)
	}
	return nil
}

// memberTLS issues member name's server and peer certificates from ca, for
// 127.0.0.1 and localhost.
func memberTLS(ca *tlsconfig.CA, name string) (client, peer *tlsconfig.Files, err error) {
	c, err := ca.IssueServer(name+"-server", "127.0.0.1", "localhost")
	if err != nil {
		return nil, nil, err
	}
	p, err := ca.IssuePeer(name+"-peer", "127.0.0.1", "localhost")
	if err != nil {
		return nil, nil, err
	}
	return &c, &p, nil
}
