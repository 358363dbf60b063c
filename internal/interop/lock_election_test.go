package interop_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lock"
)

// `etcdctl lock mylock` holds the lock: coordkit's TryLock is refused, and
// gets the lock once etcdctl lets go.
func TestEtcdctlLockExcludesCoordkit(t *testing.T) {
	n := coordtest.NewNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proc, lines := backgroundProc(t, n.Endpoints()[0], "lock", "mylock", "--ttl", "5")
	held := nextLine(t, lines) // mylock/<lease id>
	require.True(t, strings.HasPrefix(held, "mylock/"), held)

	m, err := lock.NewMutex(n.Client(), "mylock", lock.WithTTL(2*time.Second))
	require.NoError(t, err)
	defer m.Close(ctx)
	_, err = m.TryLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked)

	require.NoError(t, proc.Signal(os.Interrupt)) // etcdctl unlocks on ^C
	h, err := m.Lock(ctx)
	require.NoError(t, err)
	require.NoError(t, h.Unlock(ctx))
}

// While coordkit holds the lock, `etcdctl lock mylock <command>` waits; its
// command runs only after Unlock. The command writes a key, so the order is
// read from etcd's revisions rather than from timing.
func TestCoordkitLockExcludesEtcdctlCommand(t *testing.T) {
	n := coordtest.NewNode(t)
	ep := n.Endpoints()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := lock.NewMutex(n.Client(), "mylock", lock.WithTTL(5*time.Second))
	require.NoError(t, err)
	defer m.Close(ctx)
	h, err := m.Lock(ctx)
	require.NoError(t, err)

	etcdctlPath := lookEtcdctl(t)
	_, lines := backgroundProc(t, ep, "lock", "mylock", etcdctlPath, "put", "marker", "ran")
	// Wait until etcdctl queues behind us (its own key under the prefix).
	require.Eventually(t, func() bool {
		r, err := n.Client().Get(ctx, "mylock/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 2
	}, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, h.Unlock(ctx))
	unlocked, err := n.Client().Get(ctx, "any") // the revision right after Unlock
	require.NoError(t, err)
	require.Equal(t, "OK", waitFor(t, lines, func(l string) bool { return l == "OK" }))
	r, err := n.Client().Get(ctx, "marker")
	require.NoError(t, err)
	require.Len(t, r.Kvs, 1)
	require.Greater(t, r.Kvs[0].CreateRevision, unlocked.Header.Revision, "etcdctl's command ran while coordkit held the lock")
}

// `etcdctl elect president biden` leads: coordkit's Leader and Observe see
// it; when it leaves, a coordkit candidate leads and `etcdctl elect -l`
// sees that.
func TestElectInteropBothWays(t *testing.T) {
	n := coordtest.NewNode(t)
	ep := n.Endpoints()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proc, lines := backgroundProc(t, ep, "elect", "president", "biden")
	require.True(t, strings.HasPrefix(nextLine(t, lines), "president/"))
	require.Equal(t, "biden", nextLine(t, lines))

	e, err := election.New(n.Client(), "president", election.WithTTL(2*time.Second))
	require.NoError(t, err)
	l, err := e.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, "biden", l.Value)
	obs := e.Observe(ctx)
	first := <-obs
	require.Equal(t, "biden", first.Leader.Value)

	campaign := make(chan *election.Term, 1)
	go func() {
		term, err := e.Campaign(ctx, "trump")
		if err != nil {
			t.Error(err)
		}
		campaign <- term
	}()
	listener := background(t, ep, "elect", "president", "-l")
	require.NoError(t, proc.Signal(os.Interrupt)) // biden resigns
	term := <-campaign
	require.NotNil(t, term)
	defer term.Resign(context.Background())
	require.Equal(t, "trump", waitFor(t, listener, func(l string) bool { return l == "trump" }))
	for ev := range obs {
		if ev.Leader.Value == "trump" {
			require.Equal(t, term.Token(), ev.Leader.Token)
			break
		}
	}
}
