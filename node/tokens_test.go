package node_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/node"
)

// waitTokenExpired waits until etcd refuses token, with a deadline: the
// condition, not a sleep, says the TTL has passed.
func waitTokenExpired(t testing.TB, endpoints []string, token string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Token: token, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Get(ctx, "app/probe")
		cancel()
		if errors.Is(err, rpctypes.ErrInvalidAuthToken) {
			return
		}
		require.True(t, time.Now().Before(deadline), "token still accepted after 30 s (last error %v)", err)
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// JWT tokens with a 1 s TTL expire under a gRPC client and the node's own
// client: unary calls, existing watches and new watches (which etcd's
// client would open on its old stream, with the expired token) carry on.
func TestWatchesAndCallsSurviveJWTExpiry(t *testing.T) {
	t.Parallel()
	cfg := fast("jwt")
	cfg.AuthTokens = node.TokensJWT
	cfg.AuthTokenTTL = time.Second
	cfg.Auth = &access.Spec{RootPassword: "rootpw",
		Roles: []access.Role{{Name: "app", Permissions: access.KV("app", access.ReadWrite)}},
		Users: []access.User{{Name: "app", Password: "apppw", Roles: []string{"app"}}}}
	cfg.ClientUser = "app"
	n := start(t, cfg)
	require.FileExists(t, filepath.Join(n.Dir(), node.JWTPrivateKeyFileName), "keys are generated into the data dir")
	info, err := os.Stat(filepath.Join(n.Dir(), node.JWTPrivateKeyFileName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), Username: "app", Password: "apppw"})
	require.NoError(t, err)
	defer cli.Close()

	w1 := cli.Watch(ctx, "app/a")
	nw1 := n.Client().Watch(ctx, "app/a")
	tok, err := cli.Authenticate(ctx, "app", "apppw")
	require.NoError(t, err)
	waitTokenExpired(t, n.Endpoints(), tok.Token)

	for _, c := range []*clientv3.Client{cli, n.Client()} {
		_, err = c.Put(ctx, "app/a", "after expiry")
		require.NoError(t, err, "unary calls renew the token")
	}
	for _, wc := range []clientv3.WatchChan{w1, nw1} {
		r := <-wc
		require.NoError(t, r.Err())
		require.Equal(t, "after expiry", string(r.Events[0].Kv.Value), "a watch opened before expiry keeps delivering")
	}

	// New watches after expiry, from the current revision.
	tok, err = cli.Authenticate(ctx, "app", "apppw")
	require.NoError(t, err)
	waitTokenExpired(t, n.Endpoints(), tok.Token)
	rev, err := cli.Get(ctx, "app/b")
	require.NoError(t, err)
	w2 := cli.Watch(ctx, "app/b", clientv3.WithRev(rev.Header.Revision+1))
	nw2 := n.Client().Watch(ctx, "app/b", clientv3.WithRev(rev.Header.Revision+1))
	_, err = cli.Put(ctx, "app/b", "new watch")
	require.NoError(t, err)
	for _, wc := range []clientv3.WatchChan{w2, nw2} {
		r := <-wc
		require.NoError(t, r.Err(), "a watch created with an expired token on an existing stream is re-created with a fresh one")
		require.Equal(t, "new watch", string(r.Events[0].Kv.Value))
	}
}

func TestTokenConfigurationIsValidated(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*node.Config){
		"unknown kind":    func(c *node.Config) { c.AuthTokens = "opaque" },
		"short ttl":       func(c *node.Config) { c.AuthTokenTTL = time.Millisecond },
		"half a key pair": func(c *node.Config) { c.AuthTokens = "jwt"; c.JWTPrivateKeyFile = "k.pem" },
		"keys but simple": func(c *node.Config) {
			c.AuthTokens = "simple"
			c.JWTPrivateKeyFile, c.JWTPublicKeyFile = "k.pem", "k.pub"
		},
		"password without user": func(c *node.Config) { c.ClientPassword = "pw" },
	} {
		cfg := fast("tokens")
		mod(&cfg)
		_, err := node.Start(context.Background(), cfg)
		require.ErrorIs(t, err, coordkit.ErrInvalidArgument, name)
	}
}
