package node_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/tlsconfig"
)

// BenchmarkSecurity measures, in one run, puts (16 writers) and an
// uncontended lock+unlock through the in-process client and over gRPC
// (loopback), without auth, with auth (simple and JWT tokens), with mutual
// TLS, and with both. Writes skip fsync, so the figures show the cost of
// auth and TLS rather than of the disk.
func BenchmarkSecurity(b *testing.B) {
	ctx := context.Background()
	spec := access.Spec{
		RootPassword: "rootpw",
		Roles:        []access.Role{{Name: "app", Permissions: append(access.KV("app", access.ReadWrite), access.Lock("bench/lock")...)}},
		Users:        []access.User{{Name: "app", Password: "apppw", Roles: []string{"app"}}},
	}
	ca, err := tlsconfig.NewCA(b.TempDir())
	require.NoError(b, err)
	server, err := ca.IssueServer("server", "localhost", "127.0.0.1")
	require.NoError(b, err)
	clientFiles, err := ca.IssueClient("app")
	require.NoError(b, err)
	clientTLS, err := tlsconfig.Client(clientFiles)
	require.NoError(b, err)

	newNode := func(name string, auth bool, tokens string, withTLS bool) *node.Node {
		cfg := quiet(fast(name))
		// fsync stays off (fast's default): on this shared machine its noise
		// would hide the differences measured here.
		if auth {
			cfg.Auth, cfg.ClientUser, cfg.AuthTokens = &spec, "app", tokens
		}
		if withTLS {
			cfg.ClientTLS = &server
			cfg.ClientURLs = []string{"https://127.0.0.1:0"}
		}
		n, err := node.Start(ctx, cfg)
		require.NoError(b, err)
		b.Cleanup(func() { n.Close() })
		return n
	}
	connect := func(n *node.Node, user string, tc *tls.Config) *clientv3.Client {
		cc := coordkit.ClientConfig{Endpoints: n.Endpoints(), TLS: tc, Logger: quiet(fast("")).Logger}
		if user != "" {
			cc.Username, cc.Password = user, "apppw"
		}
		cli, err := coordkit.Connect(ctx, cc)
		require.NoError(b, err)
		b.Cleanup(func() { cli.Close() })
		return cli
	}
	plain := newNode("plain", false, "", false)
	simple := newNode("simple", true, node.TokensSimple, false)
	jwt := newNode("jwt", true, node.TokensJWT, false)
	mtls := newNode("mtls", false, "", true)
	mtlsAuth := newNode("mtls-auth", true, node.TokensJWT, true)

	clients := []struct {
		name string
		cli  *clientv3.Client
	}{
		{"inprocess/noauth", plain.Client()},
		{"inprocess/auth-simple", simple.Client()},
		{"inprocess/auth-jwt", jwt.Client()},
		{"grpc/noauth", connect(plain, "", nil)},
		{"grpc/auth-simple", connect(simple, "app", nil)},
		{"grpc/auth-jwt", connect(jwt, "app", nil)},
		{"grpc/mtls", connect(mtls, "", clientTLS)},
		{"grpc/mtls-cn-user", connect(mtlsAuth, "", clientTLS)},
		{"grpc/mtls-auth-jwt", connect(mtlsAuth, "app", clientTLS)},
	}
	for _, c := range clients {
		b.Run("put/"+c.name, func(b *testing.B) {
			b.SetParallelism(8) // 16 writers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.cli.Put(ctx, "app/k", "v"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	for _, c := range clients {
		b.Run("lock+unlock/"+c.name, func(b *testing.B) {
			mu, err := lock.NewMutex(c.cli, "bench/lock")
			require.NoError(b, err)
			defer mu.Close(ctx)
			for b.Loop() {
				h, err := mu.Lock(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := h.Unlock(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// quiet is cfg with etcd's logs discarded.
func quiet(cfg node.Config) node.Config {
	cfg.Logger = fast("").Logger
	return cfg
}
