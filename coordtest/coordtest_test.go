package coordtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/coordtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNodeServesInProcessAndOverGRPC(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := context.Background()
	_, err := n.Client().Put(ctx, "k", "v")
	require.NoError(t, err)
	resp, err := n.NewClient(t).Get(ctx, "k")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, "v", string(resp.Kvs[0].Value))
}

func TestClusterSurvivesLeaderKillAndRestartedMemberCatchesUp(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old, err := c.WaitLeader(ctx)
	require.NoError(t, err)
	_, err = c.Client().Put(ctx, "before", "1")
	require.NoError(t, err)

	c.Member(old).Kill()
	require.False(t, c.Member(old).Running())
	lead, err := c.WaitLeader(ctx)
	require.NoError(t, err)
	require.NotEqual(t, old, lead, "the killed member cannot lead")
	for i := range 20 {
		_, err = c.Client().Put(ctx, fmt.Sprintf("after/%d", i), "x")
		require.NoError(t, err)
	}

	c.Member(old).Restart()
	// The restarted member catches up: a serializable (local) read on it
	// sees every write made while it was down.
	require.Eventually(t, func() bool {
		r, err := c.Member(old).Client().Get(ctx, "after/", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
		return err == nil && r.Count == 20
	}, 10*time.Second, 10*time.Millisecond)
}

func TestPartitionedMinorityCannotWriteAndHealRestoresIt(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lead, err := c.WaitLeader(ctx)
	require.NoError(t, err)
	minority := (lead + 1) % 3
	c.Partition(minority)

	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = c.Member(minority).Client().Get(short, "x") // linearizable: needs the leader
	cancelShort()
	require.Error(t, err, "a partitioned member must not serve linearizable reads")
	_, err = c.Member(lead).Client().Put(ctx, "x", "majority")
	require.NoError(t, err, "the majority keeps working")

	c.Heal()
	require.Eventually(t, func() bool {
		r, err := c.Member(minority).Client().Get(ctx, "x")
		return err == nil && len(r.Kvs) == 1 && string(r.Kvs[0].Value) == "majority"
	}, 10*time.Second, 10*time.Millisecond)
}

func TestLinkBlackholeCutsClientAndUnblackholeRestores(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	l := n.NewLink(t)
	ctx := context.Background()
	_, err := l.Client().Put(ctx, "k", "1")
	require.NoError(t, err)

	l.Blackhole()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = l.Client().Get(short, "k")
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = n.Client().Put(ctx, "k", "2") // the node itself is fine
	require.NoError(t, err)

	l.Unblackhole()
	require.Eventually(t, func() bool {
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		r, err := l.Client().Get(c, "k")
		return err == nil && string(r.Kvs[0].Value) == "2"
	}, 15*time.Second, 20*time.Millisecond)
}

func TestLinkDropConnectionsForcesReconnect(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	l := n.NewLink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := l.Client().Put(ctx, "k", "1")
	require.NoError(t, err)
	w := l.Client().Watch(ctx, "k")
	l.DropConnections()
	// The watch stream was cut with its connection: etcd's client
	// reconnects and the watch goes on (it does not end silently).
	_, err = n.Client().Put(ctx, "k", "2")
	require.NoError(t, err)
	// (etcd's client may replay an event from before the drop when it
	// re-creates a watch that had not delivered anything yet: kv.Watch is
	// the layer that removes such repeats.)
	for seen := false; !seen; {
		select {
		case resp := <-w:
			require.NoError(t, resp.Err())
			for _, ev := range resp.Events {
				seen = seen || string(ev.Kv.Value) == "2"
			}
		case <-ctx.Done():
			t.Fatal("watch did not resume after the connection was dropped")
		}
	}
	require.Eventually(t, func() bool {
		_, err := l.Client().Put(ctx, "k", "3")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
}
