package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lock"
)

// stormSize is how many watches are cancelled at once. etcd's in-process
// adapter stalls its stream for good with 300.
const stormSize = 1000

// cancelStorm opens n watches on cli sharing one stream (WithRequireLeader,
// as every coordkit watch), waits until all are created, and cancels them
// all at once.
func cancelStorm(t testing.TB, cli *clientv3.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	chans := make([]clientv3.WatchChan, n)
	for i := range chans {
		chans[i] = cli.Watch(ctx, fmt.Sprintf("storm/%d", i), clientv3.WithCreatedNotify())
	}
	for i, ch := range chans {
		select {
		case resp := <-ch:
			require.True(t, resp.Created, "watch %d: %v", i, resp.Err())
		case <-time.After(ends):
			t.Fatalf("watch %d of the storm was never created", i)
		}
	}
	cancel()
	// Wait until every cancelled watch's channel is closed: the client has
	// taken all the cancellations.
	deadline := time.After(ends)
	for i, ch := range chans {
		for open := true; open; {
			select {
			case _, open = <-ch:
			case <-deadline:
				t.Fatalf("watch %d of %d cancelled at once was never closed: the in-process watch stream is stalled", i, n)
			}
		}
	}
}

// hears reports whether a new watch on cli, on the shared stream, hears a
// put made through another client.
func requireWatchHearsPut(t *testing.T, cli, writer *clientv3.Client, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), ends)
	defer cancel()
	wch := cli.Watch(ctx, key, clientv3.WithCreatedNotify())
	select {
	case resp := <-wch:
		require.True(t, resp.Created, "watch after the storm not created: %v", resp.Err())
	case <-ctx.Done():
		t.Fatalf("a watch opened after %d cancellations was never created: the in-process watch stream is stalled", stormSize)
	}
	_, err := writer.Put(ctx, key, "after the storm")
	require.NoError(t, err)
	select {
	case resp := <-wch:
		require.NoError(t, resp.Err())
		require.Len(t, resp.Events, 1)
		require.Equal(t, key, string(resp.Events[0].Kv.Key))
	case <-ctx.Done():
		t.Fatalf("a watch opened after %d cancellations did not hear a put: the in-process watch stream is stalled", stormSize)
	}
}

// Cancelling many watches at once on Node.Client() must not stall the
// stream they share (etcd issues 18879, 20716).
func TestInProcessWatchSurvivesCancellationStorm(t *testing.T) {
	n := coordtest.NewNode(t)
	cli := n.Client()

	// A watch opened before the storm, on the same stream, keeps working.
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), ends)
	defer cancel()
	before := cli.Watch(ctx, "before", clientv3.WithCreatedNotify())
	require.True(t, (<-before).Created)

	for round := range 3 {
		cancelStorm(t, cli, stormSize)
		requireWatchHearsPut(t, cli, cli, fmt.Sprintf("after/%d", round))
	}
	_, err := cli.Put(ctx, "before", "v")
	require.NoError(t, err)
	select {
	case resp := <-before:
		require.NoError(t, resp.Err())
		require.Len(t, resp.Events, 1)
	case <-ctx.Done():
		t.Fatal("a watch opened before the storm went quiet")
	}
}

// Every recipe's watches share the in-process stream: each keeps working
// after a storm of cancellations on it.
func TestRecipesWorkAfterCancellationStorm(t *testing.T) {
	n := coordtest.NewNode(t)
	cli := n.Client()
	ctx, cancel := context.WithTimeout(context.Background(), ends)
	defer cancel()

	// Watchers set up before the storm.
	store, err := kv.New[string](cli, "cfg")
	require.NoError(t, err)
	kw, err := store.Watch(ctx)
	require.NoError(t, err)
	defer kw.Close()
	dw, err := discovery.Watch(ctx, cli, "api")
	require.NoError(t, err)
	defer dw.Close()
	require.NoError(t, dw.WaitReady(ctx))
	e, err := election.New(cli, "boss", election.WithTTL(5*time.Second))
	require.NoError(t, err)
	obs := e.Observe(ctx)
	require.True(t, (<-obs).Vacant)

	cancelStorm(t, cli, stormSize)

	t.Run("kv.Watch", func(t *testing.T) {
		_, err := store.Put(ctx, "a", "1")
		require.NoError(t, err)
		for {
			select {
			case ev := <-kw.Events():
				if ev.Type == kv.EventPut && ev.Entry.Key == "a" {
					return
				}
			case <-ctx.Done():
				t.Fatal("kv.Watch did not hear a put after the storm")
			}
		}
	})
	t.Run("discovery", func(t *testing.T) {
		reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "api", Addr: "a:1"}, discovery.WithTTL(5*time.Second))
		require.NoError(t, err)
		defer closeQuietly(reg.Close)
		for len(dw.Instances()) == 0 {
			select {
			case <-dw.Changes():
			case <-ctx.Done():
				t.Fatal("discovery watcher did not see a registration after the storm")
			}
		}
		fresh, err := discovery.Watch(ctx, cli, "api")
		require.NoError(t, err)
		defer fresh.Close()
		require.NoError(t, fresh.WaitReady(ctx))
		require.Len(t, fresh.Instances(), 1)
	})
	t.Run("election.Observe", func(t *testing.T) {
		term, err := e.Campaign(ctx, "me")
		require.NoError(t, err)
		defer closeQuietly(term.Resign)
		for {
			select {
			case ev := <-obs:
				if ev.Leader.Value == "me" {
					return
				}
			case <-ctx.Done():
				t.Fatal("Observe did not see the new leader after the storm")
			}
		}
	})
	t.Run("lock waiter hears its predecessor go", func(t *testing.T) {
		m1, err := lock.NewMutex(cli, "job", lock.WithTTL(5*time.Second))
		require.NoError(t, err)
		defer closeQuietly(m1.Close)
		m2, err := lock.NewMutex(cli, "job", lock.WithTTL(5*time.Second))
		require.NoError(t, err)
		defer closeQuietly(m2.Close)
		h1, err := m1.Lock(ctx)
		require.NoError(t, err)
		_ = h1.Done()
		got := make(chan error, 1)
		go func() {
			h2, err := m2.Lock(ctx)
			if err == nil {
				err = h2.Unlock(ctx)
			}
			got <- err
		}()
		require.NoError(t, h1.Unlock(ctx))
		require.NoError(t, <-got, "a waiting Lock did not hear its predecessor go after the storm")
	})
	t.Run("a second storm from recipes", func(t *testing.T) {
		// Closing many registrations at once cancels their watches at once.
		var regs []*discovery.Registration
		for i := range 100 {
			reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "bulk", ID: fmt.Sprint(i), Addr: "b:1"}, discovery.WithTTL(5*time.Second))
			require.NoError(t, err)
			regs = append(regs, reg)
		}
		var wg sync.WaitGroup
		for _, reg := range regs {
			wg.Add(1)
			go func() { defer wg.Done(); closeQuietly(reg.Close) }()
		}
		wg.Wait()
		requireWatchHearsPut(t, cli, cli, "after/recipes")
	})
}
