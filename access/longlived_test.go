package access_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/node"
)

// waitTokenExpired waits until etcd refuses token at every endpoint.
func waitTokenExpired(t testing.TB, endpoints []string, token string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Token: token, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Get(ctx, "app/probe", clientv3.WithSerializable())
		cancel()
		if errors.Is(err, rpctypes.ErrInvalidAuthToken) {
			return
		}
		require.True(t, time.Now().Before(deadline), "token still accepted after 30 s (last error %v)", err)
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// Watches, keep-alives, a held lock, an election term, a registration and
// a discovery watcher, all of a least-privileged user, carry on while its
// 1 s JWT tokens expire again and again and every member, the issuing one
// included, is killed and restarted in turn.
func TestLongLivedWorkSurvivesTokenExpiryAndMemberRestarts(t *testing.T) {
	t.Parallel()
	s := access.Spec{
		RootPassword: "rootpw",
		Roles: []access.Role{{Name: "app", Permissions: slices.Concat(
			access.KV("app/kv", access.ReadWrite), access.Lock("app/lock"), access.Election("app/leader"),
			access.DiscoveryService("", "app", access.ReadWrite))}},
		Users: []access.User{{Name: "app", Password: "apppw", Roles: []string{"app"}}},
	}
	c := coordtest.NewCluster(t, 3, coordtest.WithNodeConfig(func(cfg *node.Config) {
		cfg.Auth = &s
		cfg.AuthTokenTTL = time.Second // JWT: the default for several members
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: c.Endpoints(), Username: "app", Password: "apppw"})
	require.NoError(t, err)
	defer cli.Close()
	root, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: c.Endpoints(), Username: "root", Password: "rootpw"})
	require.NoError(t, err)
	defer root.Close()

	st, err := kv.New[string](cli, "app/kv")
	require.NoError(t, err)
	kw, err := st.Watch(ctx)
	require.NoError(t, err)
	defer kw.Close()

	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	defer l.Revoke(context.Background())

	mu, err := lock.NewMutex(cli, "app/lock")
	require.NoError(t, err)
	defer mu.Close(context.Background())
	held, err := mu.Lock(ctx)
	require.NoError(t, err)

	el, err := election.New(cli, "app/leader")
	require.NoError(t, err)
	term, err := el.Campaign(ctx, "v1")
	require.NoError(t, err)

	reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "app", ID: "a", Addr: "10.0.0.1:1"})
	require.NoError(t, err)
	defer reg.Close(context.Background())
	dw, err := discovery.Watch(ctx, cli, "app")
	require.NoError(t, err)
	defer dw.Close()
	require.NoError(t, dw.WaitReady(ctx))

	expire := func() {
		tok, err := cli.Authenticate(ctx, "app", "apppw")
		require.NoError(t, err)
		waitTokenExpired(t, c.Endpoints(), tok.Token)
	}
	expire()
	for i := range c.Size() {
		c.Member(i).Kill()
		c.Member(i).Restart()
		c.Leader()
		expire()
	}

	// Everything still works and nothing was lost.
	require.NoError(t, l.Err(), "the keep-alive never lapsed")
	require.NoError(t, held.Context().Err(), "the lock is still held: %v", held.Err())
	resp, err := held.Do(ctx, clientv3.OpPut("app/lock-fenced", "x"))
	if err == nil {
		require.True(t, resp.Succeeded)
	} else {
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "the fenced write is only outside the role")
	}
	require.NoError(t, term.Context().Err(), "the term is still current: %v", term.Err())
	require.NoError(t, term.Proclaim(ctx, "v2"))
	require.Equal(t, discovery.Registered, reg.State(), "registration: %v", reg.Err())

	_, err = root.Put(ctx, "app/kv/after", `"restarts"`) // JSON, kv's default codec
	require.NoError(t, err)
	waitEvent(t, kw, "restarts")
	reg2, err := discovery.Register(ctx, cli, discovery.Instance{Service: "app", ID: "b", Addr: "10.0.0.2:1"})
	require.NoError(t, err)
	defer reg2.Close(context.Background())
	for len(dw.Instances()) < 2 {
		select {
		case <-dw.Changes():
		case <-ctx.Done():
			t.Fatalf("discovery watcher did not see the new registration: %v", dw.Err())
		}
	}
	require.NoError(t, held.Unlock(ctx))
	require.NoError(t, term.Resign(ctx))
}

// waitEvent waits for a put of value on w, failing the test after 20 s.
func waitEvent(t *testing.T, w *kv.Watcher[string], value string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-w.Events():
			require.True(t, ok, "kv watcher ended: %v", w.Err())
			if ev.Type == kv.EventPut && ev.Entry.Value == value {
				return
			}
		case <-timeout:
			t.Fatalf("kv watcher did not deliver %q within 20 s (err %v)", value, w.Err())
		}
	}
}
