package coordkit_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/tlsconfig"
)

// tlsNode starts a node that serves clients over mutual TLS and returns it
// with the CA that signed its certificates.
func tlsNode(t *testing.T) (*node.Node, *tlsconfig.CA) {
	t.Helper()
	ca, err := tlsconfig.NewCA(t.TempDir())
	require.NoError(t, err)
	server, err := ca.IssueServer("server", "localhost", "127.0.0.1")
	require.NoError(t, err)
	cfg := fast("tls")
	cfg.ClientTLS = &server
	cfg.ClientURLs = []string{"https://127.0.0.1:0"}
	return start(t, cfg), ca
}

func TestConnectWithMutualTLSClientCertificate(t *testing.T) {
	t.Parallel()
	n, ca := tlsNode(t)
	ctx := context.Background()
	require.Contains(t, n.Endpoints()[0], "https://")

	client, err := ca.IssueClient("root")
	require.NoError(t, err)
	tc, err := tlsconfig.Client(client)
	require.NoError(t, err)
	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), TLS: tc, DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer cli.Close()
	_, err = cli.Put(ctx, "over", "tls")
	require.NoError(t, err)

	// Without a client certificate the server refuses the handshake.
	noCert, err := tlsconfig.Client(tlsconfig.Files{CAFile: ca.CertFile()})
	require.NoError(t, err)
	_, err = coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), TLS: noCert, DialTimeout: time.Second})
	require.ErrorIs(t, err, coordkit.ErrTLSRefused)
	require.ErrorIs(t, err, coordkit.ErrClientCertificateRequired)

	// Plain text to a TLS port does not get through either.
	_, err = coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: []string{"http://" + n.Endpoints()[0][len("https://"):]}, DialTimeout: time.Second})
	require.ErrorIs(t, err, coordkit.ErrUnreachable)
}

// Not parallel: it sets the process environment, like a shell running
// etcdctl would.
func TestConnectThroughEtcdctlEnvironment(t *testing.T) {
	n, ca := tlsNode(t)
	client, err := ca.IssueClient("root")
	require.NoError(t, err)
	t.Setenv("ETCDCTL_ENDPOINTS", n.Endpoints()[0])
	t.Setenv("ETCDCTL_CACERT", client.CAFile)
	t.Setenv("ETCDCTL_CERT", client.CertFile)
	t.Setenv("ETCDCTL_KEY", client.KeyFile)
	t.Setenv("ETCDCTL_DIAL_TIMEOUT", "3s")
	cfg, err := coordkit.ClientConfigFromEnv()
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, cfg.DialTimeout)
	require.NotNil(t, cfg.TLS)
	cli, err := coordkit.Connect(context.Background(), cfg)
	require.NoError(t, err)
	defer cli.Close()
	_, err = cli.Put(context.Background(), "from", "env")
	require.NoError(t, err)
}

func TestClientConfigFromEnvFollowsEtcdctl(t *testing.T) {
	for _, k := range []string{"ETCDCTL_ENDPOINTS", "ETCDCTL_DIAL_TIMEOUT", "ETCDCTL_CACERT", "ETCDCTL_CERT", "ETCDCTL_KEY", "ETCDCTL_USER", "ETCDCTL_PASSWORD", "ETCDCTL_INSECURE_SKIP_TLS_VERIFY"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Setenv(k, "")
		}
	}
	cfg, err := coordkit.ClientConfigFromEnv()
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:2379"}, cfg.Endpoints)
	require.Equal(t, 2*time.Second, cfg.DialTimeout)
	require.Nil(t, cfg.TLS)

	t.Setenv("ETCDCTL_ENDPOINTS", "10.0.0.1:2379, 10.0.0.2:2379,")
	t.Setenv("ETCDCTL_USER", "alice:s3cret")
	cfg, err = coordkit.ClientConfigFromEnv()
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.1:2379", "10.0.0.2:2379"}, cfg.Endpoints)
	require.Equal(t, "alice", cfg.Username)
	require.Equal(t, "s3cret", cfg.Password)

	t.Setenv("ETCDCTL_PASSWORD", "p:w") // then USER is the whole name
	t.Setenv("ETCDCTL_USER", "bob")
	cfg, err = coordkit.ClientConfigFromEnv()
	require.NoError(t, err)
	require.Equal(t, "bob", cfg.Username)
	require.Equal(t, "p:w", cfg.Password)

	t.Setenv("ETCDCTL_PASSWORD", "")
	t.Setenv("ETCDCTL_INSECURE_SKIP_TLS_VERIFY", "true")
	cfg, err = coordkit.ClientConfigFromEnv()
	require.ErrorIs(t, err, coordkit.ErrInvalidArgument, "a user without a password cannot be prompted for")

	t.Setenv("ETCDCTL_USER", "")
	cfg, err = coordkit.ClientConfigFromEnv()
	require.NoError(t, err)
	require.NotNil(t, cfg.TLS)
	require.True(t, cfg.TLS.InsecureSkipVerify)

	bad := map[string]string{
		"ETCDCTL_DIAL_TIMEOUT":             "soon",
		"ETCDCTL_INSECURE_SKIP_TLS_VERIFY": "maybe",
		"ETCDCTL_CERT":                     "/only/cert.pem",
		"ETCDCTL_CACERT":                   "/does/not/exist.pem",
	}
	for k, v := range bad {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			_, err := coordkit.ClientConfigFromEnv()
			require.ErrorIs(t, err, coordkit.ErrInvalidArgument)
		})
	}
}

func TestConnectRejectsBadConfigAndReportsUnreachableEndpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := coordkit.Connect(ctx, coordkit.ClientConfig{})
	require.ErrorIs(t, err, coordkit.ErrInvalidArgument)
	require.True(t, strings.HasPrefix(err.Error(), "coordkit: connect: invalid argument: ClientConfig.Endpoints is empty"), "%v", err)
	_, err = coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: []string{"127.0.0.1:1"}, Password: "x"})
	require.ErrorIs(t, err, coordkit.ErrInvalidArgument)

	dead := freeAddr(t)
	begin := time.Now()
	_, err = coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: []string{dead}, DialTimeout: 300 * time.Millisecond})
	require.ErrorIs(t, err, coordkit.ErrUnreachable)
	require.Contains(t, err.Error(), dead)
	// One message shape: the package and the operation once, then the sentinel.
	require.True(t, strings.HasPrefix(err.Error(), "coordkit: connect: no etcd endpoint answered"), "%v", err)
	require.Equal(t, 1, strings.Count(err.Error(), "coordkit: "), "the package prefix appears once: %v", err)
	require.Less(t, time.Since(begin), 5*time.Second, "the dial timeout bounds Connect")
}

func TestConnectWithUsernameAndPassword(t *testing.T) {
	t.Parallel()
	n := start(t, fast("auth"))
	ctx := context.Background()
	cli := n.Client()
	_, err := cli.UserAdd(ctx, "root", "s3cret")
	require.NoError(t, err)
	_, err = cli.UserGrantRole(ctx, "root", "root")
	require.NoError(t, err)
	_, err = cli.AuthEnable(ctx)
	require.NoError(t, err)

	good, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), Username: "root", Password: "s3cret", DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer good.Close()
	_, err = good.Put(ctx, "as", "root")
	require.NoError(t, err)

	// A wrong password fails in Connect, not on first use.
	_, err = coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), Username: "root", Password: "Bad-pw-9", DialTimeout: 5 * time.Second})
	require.ErrorIs(t, err, rpctypes.ErrAuthFailed)
	require.ErrorIs(t, err, coordkit.ErrAuthRefused)
	require.ErrorContains(t, err, `as user "root"`)
	require.NotContains(t, err.Error(), "Bad-pw-9", "a password never appears in an error")
}
