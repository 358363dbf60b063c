package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/node"
)

// holdings are what one replica holds through its member's Node.Client().
type holdings struct {
	lease *lease.Lease
	held  *lock.Held
	term  *election.Term
	reg   *discovery.Registration
}

const stopTTL = 2 * time.Second

// ends is a generous bound for what must happen within a TTL and an
// election timeout: a condition wait, never a timing assertion.
const ends = 30 * time.Second

func holdThrough(t *testing.T, cli *clientv3.Client, who string) holdings {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ends)
	defer cancel()
	var h holdings
	var err error
	h.lease, err = lease.Grant(ctx, cli, stopTTL)
	require.NoError(t, err)
	h.lease.KeepAlive(context.Background())
	t.Cleanup(h.lease.Close)

	m, err := lock.NewMutex(cli, "jobs/nightly", lock.WithTTL(stopTTL))
	require.NoError(t, err)
	t.Cleanup(func() { closeQuietly(m.Close) })
	h.held, err = m.Lock(ctx)
	require.NoError(t, err)
	_ = h.held.Done() // starts the loss guard

	e, err := election.New(cli, "runner", election.WithTTL(stopTTL))
	require.NoError(t, err)
	h.term, err = e.Campaign(ctx, who)
	require.NoError(t, err)
	t.Cleanup(func() { closeQuietly(h.term.Resign) })

	h.reg, err = discovery.Register(ctx, cli, discovery.Instance{Service: "runner", ID: who, Addr: who + ":1"}, discovery.WithTTL(stopTTL))
	require.NoError(t, err)
	t.Cleanup(func() { closeQuietly(h.reg.Close) })
	return h
}

// closeQuietly runs a cleanup that may fail (its client may be stopped).
func closeQuietly(f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f(ctx)
}

// TestStoppedMemberEndsEverythingHeldThroughItsClient: a replica whose
// embedded member stops (killed or closed, follower or leader, restarted or
// not) loses its lease, lock, term and registration, on its side and on the
// cluster, and another replica takes over the lock and the leadership.
func TestStoppedMemberEndsEverythingHeldThroughItsClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		leader  bool
		kill    bool
		restart bool
	}{
		{name: "follower killed", kill: true},
		{name: "follower closed"},
		{name: "leader killed", leader: true, kill: true},
		{name: "leader closed", leader: true},
		{name: "follower killed and restarted", kill: true, restart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := coordtest.NewCluster(t, 3)
			lead := c.Leader()
			victim := c.Member((lead + 1) % 3)
			if tc.leader {
				victim = c.Member(lead)
			}
			other := c.Member((victim.Index() + 1) % 3)
			vcli, ocli := victim.Node().Client(), other.Node().Client()
			h := holdThrough(t, vcli, "victim")

			// The other replica waits for the lock and the leadership.
			ctx, cancel := context.WithTimeout(context.Background(), ends)
			defer cancel()
			m2, err := lock.NewMutex(ocli, "jobs/nightly", lock.WithTTL(stopTTL))
			require.NoError(t, err)
			defer closeQuietly(m2.Close)
			e2, err := election.New(ocli, "runner", election.WithTTL(stopTTL))
			require.NoError(t, err)
			locked, elected := make(chan error, 1), make(chan error, 1)
			// Like a real replica, it tries again when a request failed
			// (one in flight while the leader stops fails, unknown outcome).
			go func() {
				var failed []error
				for {
					_, err := m2.Lock(ctx)
					if err == nil {
						locked <- nil
						return
					}
					if ctx.Err() != nil {
						locked <- errors.Join(append(failed, err)...)
						return
					}
					failed = append(failed, err)
				}
			}()
			go func() {
				var failed []error
				for {
					term, err := e2.Campaign(ctx, "other")
					if err == nil {
						defer closeQuietly(term.Resign)
						elected <- nil
						return
					}
					if ctx.Err() != nil {
						elected <- errors.Join(append(failed, err)...)
						return
					}
					failed = append(failed, err)
				}
			}()

			if tc.kill {
				victim.Kill()
			} else {
				victim.Stop()
			}
			if tc.restart {
				victim.Restart()
			}

			// The holder's side.
			for what, done := range map[string]<-chan struct{}{
				"lease": h.lease.Done(), "lock": h.held.Done(), "term": h.term.Done(),
			} {
				select {
				case <-done:
				case <-time.After(ends):
					t.Fatalf("%s held through the stopped member's client did not end", what)
				}
			}
			require.Eventually(t, func() bool { return h.reg.State() != discovery.Registered },
				ends, 10*time.Millisecond, "registration through the stopped member's client stays registered")
			require.ErrorIs(t, h.lease.Err(), lease.ErrClientStopped)
			require.ErrorIs(t, h.lease.Err(), node.ErrStopped)
			t.Logf("lock: %v; term: %v; registration: %v", h.held.Err(), h.term.Err(), h.reg.Err())

			// The cluster's side: the lease expires, taking the keys with it.
			require.Eventually(t, func() bool {
				ttl, err := ocli.TimeToLive(ctx, h.lease.ID())
				return err == nil && ttl.TTL == -1
			}, ends, 20*time.Millisecond, "the cluster keeps the stopped replica's lease")
			for what, id := range map[string]clientv3.LeaseID{
				"lock": h.held.Lease().ID(), "term": h.term.Lease().ID(), "registration": h.reg.Lease(),
			} {
				require.Eventually(t, func() bool {
					ttl, err := ocli.TimeToLive(ctx, id)
					return err == nil && ttl.TTL == -1
				}, ends, 20*time.Millisecond, "the cluster keeps the %s's lease", what)
			}
			resp, err := ocli.Get(ctx, h.reg.Key())
			require.NoError(t, err)
			require.Zero(t, resp.Count, "registration key outlived its lease")

			// Another replica takes over.
			require.NoError(t, <-locked, "other replica did not get the lock")
			require.NoError(t, <-elected, "other replica was not elected")

			// Every call on the stopped member's client fails with a typed
			// error, lease renewals included.
			_, err = vcli.Put(ctx, "after", "stop")
			require.ErrorIs(t, err, node.ErrStopped)
			_, err = vcli.KeepAliveOnce(ctx, h.lease.ID())
			require.ErrorIs(t, err, node.ErrStopped)
		})
	}
}

// Calls refused by a stopped node's client say so, and are classified as
// not applied.
func TestStoppedNodeClientRefusesEveryCall(t *testing.T) {
	n := coordtest.NewNode(t)
	cli := n.Client()
	ctx, cancel := context.WithTimeout(context.Background(), ends)
	defer cancel()
	lr, err := cli.Grant(ctx, 10)
	require.NoError(t, err)
	wch := cli.Watch(ctx, "k")
	require.NoError(t, n.Kill())

	calls := map[string]func() error{
		"get":       func() error { _, err := cli.Get(ctx, "k"); return err },
		"serial":    func() error { _, err := cli.Get(ctx, "k", clientv3.WithSerializable()); return err },
		"put":       func() error { _, err := cli.Put(ctx, "k", "v"); return err },
		"txn":       func() error { _, err := cli.Txn(ctx).Then(clientv3.OpPut("k", "v")).Commit(); return err },
		"delete":    func() error { _, err := cli.Delete(ctx, "k"); return err },
		"grant":     func() error { _, err := cli.Grant(ctx, 10); return err },
		"renew":     func() error { _, err := cli.KeepAliveOnce(ctx, lr.ID); return err },
		"ttl":       func() error { _, err := cli.TimeToLive(ctx, lr.ID); return err },
		"revoke":    func() error { _, err := cli.Revoke(ctx, lr.ID); return err },
		"members":   func() error { _, err := cli.MemberList(ctx); return err },
		"status":    func() error { _, err := cli.Status(ctx, "x"); return err },
		"authstate": func() error { _, err := cli.AuthStatus(ctx); return err },
	}
	for name, call := range calls {
		err := call()
		require.ErrorIs(t, err, node.ErrStopped, name)
		require.NotContains(t, fmt.Sprint(err), "rpc error", name)
	}
	// A watch open when the node stopped ends with the same error.
	for resp := range wch {
		if err := resp.Err(); err != nil {
			require.True(t, errors.Is(err, node.ErrStopped) || errors.Is(err, context.Canceled), "%v", err)
		}
	}
	// A new watch ends at once.
	resp, ok := <-cli.Watch(ctx, "k")
	if ok {
		require.ErrorIs(t, resp.Err(), node.ErrStopped)
	}
}
