package access_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
)

// Each recipe works as a user whose role is exactly the helpers'
// permissions, and is refused one name outside them: the helpers are
// neither too narrow nor too wide.
func TestRecipesRunWithTheHelpersPermissionsOnly(t *testing.T) {
	t.Parallel()
	require.Equal(t, discovery.DefaultNamespace+"/", access.Discovery("", access.Read)[0].Key, "the helper follows discovery's default namespace")

	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	s := access.Spec{
		RootPassword: "rootpw",
		Roles: []access.Role{{Name: "svc", Permissions: slices.Concat(
			access.KV("cfg", access.ReadWrite),
			access.Lock("jobs/nightly"),
			access.Lock("jobs/rw"),
			access.Lock("jobs/sem"),
			access.Election("leader/x"),
			access.DiscoveryService("", "payments", access.ReadWrite),
			access.Leases(),
		)}},
		Users: []access.User{{Name: "svc", Password: "svcpw", Roles: []string{"svc"}}},
	}
	_, err := access.Apply(ctx, n.Client(), s)
	require.NoError(t, err)
	cli := connect(t, n, "svc", "svcpw")

	t.Run("kv", func(t *testing.T) {
		st, err := kv.New[string](cli, "cfg")
		require.NoError(t, err)
		w, err := st.Watch(ctx)
		require.NoError(t, err)
		defer w.Close()
		_, err = st.Put(ctx, "a", "1")
		require.NoError(t, err)
		_, err = st.Update(ctx, "a", func(old string, _ bool) (string, error) { return old + "1", nil })
		require.NoError(t, err)
		all, _, err := st.List(ctx)
		require.NoError(t, err)
		require.Len(t, all, 1)
		for ev := range w.Events() {
			if ev.Type == kv.EventPut && ev.Entry.Value == "11" {
				break
			}
		}
		other, err := kv.New[string](cli, "cfg2")
		require.NoError(t, err)
		_, err = other.Put(ctx, "a", "1")
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	})

	t.Run("lock", func(t *testing.T) {
		require.NoError(t, lock.Run(ctx, cli, "jobs/nightly", func(context.Context, *lock.Held) error { return nil }))
		rw, err := lock.NewRWMutex(cli, "jobs/rw")
		require.NoError(t, err)
		h, err := rw.RLock(ctx)
		require.NoError(t, err)
		require.NoError(t, h.Unlock(ctx))
		require.NoError(t, rw.Close(ctx))
		sem, err := lock.NewSemaphore(cli, "jobs/sem", 2)
		require.NoError(t, err)
		h, err = sem.Acquire(ctx)
		require.NoError(t, err)
		require.NoError(t, h.Unlock(ctx))
		require.NoError(t, sem.Close(ctx))
		err = lock.Run(ctx, cli, "jobs/other", func(context.Context, *lock.Held) error { return nil })
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	})

	t.Run("election", func(t *testing.T) {
		e, err := election.New(cli, "leader/x")
		require.NoError(t, err)
		obs := e.Observe(ctx)
		term, err := e.Campaign(ctx, "me")
		require.NoError(t, err)
		require.NoError(t, term.Proclaim(ctx, "me again"))
		for ev := range obs {
			if ev.Leader.Value == "me again" {
				break
			}
		}
		require.NoError(t, term.Resign(ctx))
		other, err := election.New(cli, "leader/y")
		require.NoError(t, err)
		_, err = other.Campaign(ctx, "me")
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	})

	t.Run("discovery", func(t *testing.T) {
		reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "payments", Addr: "10.0.0.1:80"})
		require.NoError(t, err)
		defer reg.Close(ctx)
		w, err := discovery.Watch(ctx, cli, "payments")
		require.NoError(t, err)
		defer w.Close()
		require.NoError(t, w.WaitReady(ctx))
		for len(w.Instances()) == 0 {
			<-w.Changes()
		}
		_, err = discovery.Register(ctx, cli, discovery.Instance{Service: "billing", Addr: "10.0.0.1:80"})
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	})

	t.Run("lease", func(t *testing.T) {
		l, err := lease.Grant(ctx, cli, 5*time.Second)
		require.NoError(t, err)
		_, err = l.KeepAliveOnce(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Revoke(ctx))
	})
}
