package node_test

import (
	"context"
	"crypto/tls"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/tlsconfig"
)

// securedCluster starts three members with mutual TLS on client and peer
// ports, auth from spec, and one JWT key pair, and returns them with the CA.
func securedCluster(t *testing.T, spec *access.Spec) ([]*node.Node, *tlsconfig.CA) {
	t.Helper()
	ca, err := tlsconfig.NewCA(t.TempDir())
	require.NoError(t, err)
	priv, pub, err := node.GenerateJWTKeys(t.TempDir())
	require.NoError(t, err)
	names := []string{"s0", "s1", "s2"}
	peers := map[string]string{}
	cfgs := make([]node.Config, len(names))
	for i, name := range names {
		server, err := ca.IssueServer(name+"-server", "localhost", "127.0.0.1")
		require.NoError(t, err)
		peer, err := ca.IssuePeer(name+"-peer", "localhost", "127.0.0.1")
		require.NoError(t, err)
		cfg := fast(name)
		cfg.ClientTLS, cfg.PeerTLS = &server, &peer
		cfg.ClientURLs = []string{"https://127.0.0.1:0"}
		addr := freeAddr(t)
		cfg.PeerURLs = []string{"https://" + addr}
		peers[name] = "https://" + addr
		cfg.Auth = spec
		cfg.JWTPrivateKeyFile, cfg.JWTPublicKeyFile = priv, pub
		cfgs[i] = cfg
	}
	nodes := make([]*node.Node, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].InitialCluster = peers
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = node.Start(context.Background(), cfgs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, names[i])
		t.Cleanup(func() { nodes[i].Close() })
	}
	return nodes, ca
}

func endpoints(nodes []*node.Node) []string {
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.Endpoints()...)
	}
	return eps
}

// Three members with mutual TLS on both ports and auth: a client
// certificate's CN is the user (no password), confined to its role; and a
// member's server certificate is rotated by replacing its files, picked up
// by the next connection without a restart.
func TestMutualTLSOnBothPortsWithCertificateUsersAndRotation(t *testing.T) {
	t.Parallel()
	spec := &access.Spec{
		RootPassword: "rootpw",
		Roles:        []access.Role{{Name: "app", Permissions: access.KV("app", access.ReadWrite)}},
		Users:        []access.User{{Name: "app-cert", Roles: []string{"app"}}},
	}
	nodes, ca := securedCluster(t, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	client, err := ca.IssueClient("app-cert")
	require.NoError(t, err)
	tc, err := tlsconfig.Client(client)
	require.NoError(t, err)
	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: endpoints(nodes), TLS: tc})
	require.NoError(t, err)
	defer cli.Close()
	_, err = cli.Put(ctx, "app/x", "by certificate")
	require.NoError(t, err, "the certificate's CN is the user")
	_, err = cli.Put(ctx, "other/x", "no")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "and only its role's keys are allowed")
	r, err := nodes[2].Client().Get(ctx, "app/x") // replicated over the TLS peer port; node client is root
	require.NoError(t, err)
	require.Equal(t, "by certificate", string(r.Kvs[0].Value))

	// Rotation: replace member 0's server certificate files.
	host := nodes[0].Endpoints()[0][len("https://"):]
	before := serverSerial(t, host, tc)
	_, err = ca.IssueServer("s0-server", "localhost", "127.0.0.1") // same files, new certificate
	require.NoError(t, err)
	require.NotEqual(t, before, serverSerial(t, host, tc), "a new connection gets the new certificate")
	fresh, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: nodes[0].Endpoints(), TLS: tc})
	require.NoError(t, err)
	defer fresh.Close()
	_, err = fresh.Put(ctx, "app/after-rotation", "ok")
	require.NoError(t, err)
	_, err = cli.Get(ctx, "app/x") // the old connection is unaffected
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(ca.Dir(), "s0-server.pem"))
}

func serverSerial(t *testing.T, host string, tc *tls.Config) *big.Int {
	t.Helper()
	cfg := tc.Clone()
	cfg.ServerName = "127.0.0.1"
	conn, err := tls.Dial("tcp", host, cfg)
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// The real etcdctl reaches a secured cluster with --cacert/--cert/--key,
// as the certificate's user or with --user; and ClientConfigFromEnv reads
// the same settings from ETCDCTL_* variables. Not parallel: it sets the
// environment.
func TestEtcdctlAndEnvironmentAgainstASecuredCluster(t *testing.T) {
	etcdctlPath, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl not installed (Debian package etcd-client); .ci/run installs it")
	}
	spec := &access.Spec{
		RootPassword: "rootpw",
		Roles:        []access.Role{{Name: "app", Permissions: access.KV("app", access.ReadWrite)}},
		Users:        []access.User{{Name: "app-cert", Roles: []string{"app"}}, {Name: "app", Password: "apppw", Roles: []string{"app"}}},
	}
	nodes, ca := securedCluster(t, spec)
	client, err := ca.IssueClient("app-cert")
	require.NoError(t, err)
	ep := nodes[1].Endpoints()[0]
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		base := []string{"--endpoints=" + ep, "--cacert=" + client.CAFile, "--cert=" + client.CertFile, "--key=" + client.KeyFile, "--dial-timeout=5s", "--command-timeout=10s"}
		cmd := exec.CommandContext(ctx, etcdctlPath, append(base, args...)...)
		cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("put", "app/from-etcdctl", "cert")
	require.NoError(t, err, "%s", out)
	out, err = run("--user=app:apppw", "put", "app/from-etcdctl-user", "password")
	require.NoError(t, err, "%s", out)
	out, err = run("put", "other/x", "no")
	require.Error(t, err)
	require.Contains(t, out, "permission denied")
	out, err = run("--user=root:rootpw", "user", "list")
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, "app-cert")

	t.Setenv("ETCDCTL_ENDPOINTS", ep)
	t.Setenv("ETCDCTL_CACERT", client.CAFile)
	t.Setenv("ETCDCTL_CERT", client.CertFile)
	t.Setenv("ETCDCTL_KEY", client.KeyFile)
	t.Setenv("ETCDCTL_USER", "app:apppw")
	cfg, err := coordkit.ClientConfigFromEnv()
	require.NoError(t, err)
	cli, err := coordkit.Connect(context.Background(), cfg)
	require.NoError(t, err)
	defer cli.Close()
	r, err := cli.Get(context.Background(), "app/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Len(t, r.Kvs, 2, "both etcdctl writes are visible")
}
