package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lock"
)

// A fenced write after the hold is really lost (its lease revoked by
// another client) is refused by etcd, typed as not held and rejected, and
// applies nothing; once the loss is known, the refusal also carries why.
func TestFencedWriteAfterLossIsNotHeld(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxFor(t)
	m := newMutex(t, n.NewClient(t), "fenced-loss")
	h, err := m.Lock(ctx)
	require.NoError(t, err)

	_, err = h.Do(ctx, clientv3.OpPut("fenced-loss-out/1", "x"))
	require.NoError(t, err, "a fenced write while held")
	_, err = n.Client().Revoke(ctx, h.Lease().ID())
	require.NoError(t, err)

	// The hold has not noticed yet (no guard started): etcd refuses it.
	_, err = h.Do(ctx, clientv3.OpPut("fenced-loss-out/2", "x"))
	require.ErrorIs(t, err, lock.ErrNotHeld)
	require.ErrorIs(t, err, lock.ErrRejected)
	require.NotErrorIs(t, err, lock.ErrUnknownOutcome)

	// Once the loss is known, the refusal is local and says why.
	require.ErrorIs(t, waitLost(t, h), lock.ErrLost)
	_, err = h.Txn(ctx).If(clientv3.Compare(clientv3.Version("x"), "=", 0)).Then(clientv3.OpPut("fenced-loss-out/3", "x")).Commit()
	require.ErrorIs(t, err, lock.ErrNotHeld)
	require.ErrorIs(t, err, lock.ErrRejected)
	require.ErrorIs(t, err, lock.ErrLost)
	require.Equal(t, 1, countKeys(t, n.Client(), "fenced-loss-out/"), "nothing applied after the loss")
	require.NoError(t, h.Unlock(ctx))
}

// A fenced write whose answer is cut off in flight (the client's link is
// blackholed) may have been applied: it is reported as an unknown outcome,
// never as a rejection, and not re-sent.
func TestFencedWriteCutOffIsUnknownOutcome(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := ctxFor(t)
	m := newMutex(t, link.Client(), "fenced-cut", lock.WithTTL(30*time.Second))
	h, err := m.Lock(ctx)
	require.NoError(t, err)

	link.Blackhole()
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = h.Do(dctx, clientv3.OpPut("fenced-cut-out", "x"))
	cancel()
	require.ErrorIs(t, err, lock.ErrUnknownOutcome)
	require.NotErrorIs(t, err, lock.ErrRejected)
	require.NotErrorIs(t, err, lock.ErrNotHeld)
	link.DropConnections()
	link.Unblackhole()
	require.NoError(t, eventually(t, func() error { return h.Unlock(ctx) }))
}

func countKeys(t *testing.T, cli *clientv3.Client, pfx string) int {
	t.Helper()
	resp, err := cli.Get(context.Background(), pfx, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	return int(resp.Count)
}
