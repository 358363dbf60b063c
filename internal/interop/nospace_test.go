package interop_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/ops"
)

// A node with a tiny quota fills up: every coordkit write fails with the
// one NOSPACE error at once (no package spins on it), reads keep working,
// and ops.RecoverNoSpace makes writes work again.
func TestNoSpaceEveryWriteFailsThenRecovers(t *testing.T) {
	n := coordtest.NewNode(t, coordtest.WithQuota(1<<20))
	cli := n.NewClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pre, err := lease.Grant(ctx, cli, time.Minute) // granted while there is room
	require.NoError(t, err)
	defer pre.Revoke(ctx)

	store, err := kv.New[string](cli, "fill", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	big := strings.Repeat("x", 64<<10)
	var full error
	for i := 0; i < 1000 && full == nil; i++ { // old revisions pile up until the quota is hit
		_, full = store.Put(ctx, "big", big)
	}
	require.Error(t, full, "a 1 MiB quota must fill with 64 KiB writes")
	require.ErrorIs(t, full, ops.ErrNoSpace)
	require.ErrorIs(t, full, kv.ErrRejected)
	require.ErrorIs(t, full, rpctypes.ErrNoSpace, "etcd's own error stays visible")
	require.Contains(t, full.Error(), "RecoverNoSpace", "the message says what to do")

	alarms, err := ops.Alarms(ctx, cli)
	require.NoError(t, err)
	require.Contains(t, alarms[n.ID()], "NOSPACE")

	v, err := store.Get(ctx, "big")
	require.NoError(t, err, "reads keep working")
	require.Equal(t, big, v.Value)

	// Each recipe reports the situation at once.
	quick := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 10*time.Second) }
	small := func(what string, f func(context.Context) error) {
		t.Helper()
		c, stop := quick()
		defer stop()
		err := f(c)
		require.ErrorIs(t, err, ops.ErrNoSpace, "%s", what)
		require.NoError(t, c.Err(), "%s must fail at once, not wait for its context", what)
	}
	small("kv put of a small value", func(c context.Context) error { _, err := store.Put(c, "small", "v"); return err })
	small("lease grant", func(c context.Context) error { _, err := lease.Grant(c, cli, 5*time.Second); return err })
	small("lock", func(c context.Context) error {
		m, err := lock.NewMutex(cli, "jobs")
		require.NoError(t, err)
		defer m.Close(c)
		_, err = m.Lock(c)
		return err
	})
	small("election campaign", func(c context.Context) error {
		e, err := election.New(cli, "leader")
		require.NoError(t, err)
		_, err = e.Campaign(c, "me")
		return err
	})
	small("discovery register", func(c context.Context) error {
		_, err := discovery.Register(c, cli, discovery.Instance{Service: "api", Addr: "127.0.0.1:1"})
		return err
	})
	// With a lease granted before the disk filled, the keys' own writes are
	// refused the same way.
	small("lock on a shared lease", func(c context.Context) error {
		m, err := lock.NewMutex(cli, "jobs", lock.WithLease(pre))
		require.NoError(t, err)
		defer m.Close(c)
		_, err = m.Lock(c)
		return err
	})

	got, err := ops.RecoverNoSpace(ctx, cli)
	require.NoError(t, err)
	require.Equal(t, 1, got.Disarmed)
	require.Equal(t, n.Endpoints(), got.Defragmented)
	alarms, err = ops.Alarms(ctx, cli)
	require.NoError(t, err)
	require.Empty(t, alarms)

	_, err = store.Put(ctx, "small", "v")
	require.NoError(t, err, "writes work again")
	m, err := lock.NewMutex(cli, "jobs")
	require.NoError(t, err)
	defer m.Close(ctx)
	h, err := m.Lock(ctx)
	require.NoError(t, err)
	require.NoError(t, h.Unlock(ctx))
}

// In a cluster the alarm stops writes everywhere; RecoverNoSpace through a
// client of every member defragments each of them and writes resume.
func TestNoSpaceRecoveredAcrossACluster(t *testing.T) {
	c := coordtest.NewCluster(t, 3, coordtest.WithQuota(1<<20))
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := kv.New[string](cli, "fill", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	big := strings.Repeat("x", 64<<10)
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = store.Put(ctx, "big", big)
	}
	require.ErrorIs(t, err, ops.ErrNoSpace)
	for _, m := range c.Members() { // every member refuses writes, once it has applied the alarm
		s, err := kv.New[string](m.Client(), "other", kv.WithCodec(kv.StringCodec))
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err = s.Put(ctx, "k", "v")
			return errors.Is(err, ops.ErrNoSpace)
		}, 10*time.Second, 10*time.Millisecond, "%s: last error %v", m, err)
	}

	got, err := ops.RecoverNoSpace(ctx, cli)
	require.NoError(t, err)
	require.ElementsMatch(t, c.Endpoints(), got.Defragmented)
	require.GreaterOrEqual(t, got.Disarmed, 1)
	for _, m := range c.Members() {
		st, err := m.Node().Status(ctx)
		require.NoError(t, err)
		require.Less(t, st.DBSize, int64(1<<20), "%s defragmented", m)
	}
	_, err = store.Put(ctx, "small", "v")
	require.NoError(t, err)
}
