package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/soak"
	"github.com/coordkit/coordkit/kv"
)

const checkTimeout = 3 * time.Minute

// Six clients of a three-member cluster, three pinned to one member each,
// three through all members (two of them also writing through a shared
// Batcher), run random operations on four keys while the seed's fault
// schedule kills members (the raft leader among them), partitions them,
// and blackholes, drops and delays their client links. The history must
// be linearizable.
func TestLinearizableUnderFaults(t *testing.T) {
	t.Parallel()
	run := soak.Start(t, 8*time.Second)
	c := coordtest.NewCluster(t, 3)
	h := newHistory()
	keys := []string{"k0", "k1", "k2", "k3"}

	newStore := func(cli *clientv3.Client) *kv.Store[val] {
		s, err := kv.New[val](cli, "lin")
		require.NoError(t, err)
		return s
	}
	shared := newStore(c.Client())
	batcher, err := shared.Batcher(kv.WithTxnTimeout(time.Second))
	require.NoError(t, err)
	defer batcher.Close(context.Background())

	clients := make([]*client, 6)
	for i := range clients {
		cl := &client{id: i, h: h, timeout: time.Second, seen: map[string]int64{}}
		switch {
		case i < 3:
			cl.store = newStore(c.Member(i).Client())
		case i == 3:
			cl.store = newStore(c.Client())
		default:
			cl.store, cl.batch = shared, batcher
		}
		clients[i] = cl
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for _, cl := range clients {
		// Each worker draws from a generator of its own, seeded from the
		// run's, so its choices replay too (their timing does not).
		g := rand.New(rand.NewPCG(uint64(run.Rand.Int64()), uint64(cl.id)))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				what, err := cl.random(g, keys)
				mu.Lock()
				counts[what]++
				if err != nil {
					counts[what+" error"]++
				}
				mu.Unlock()
				if err != nil {
					// Pace a client while its member is unreachable.
					time.Sleep(time.Duration(g.IntN(20)) * time.Millisecond)
				}
			}
		})
	}

	faults := run.Schedule(c.Size(), soak.DefaultTiming)
	applied := run.Inject(context.Background(), c, faults)
	close(stop)
	wg.Wait()
	require.NoError(t, batcher.Close(context.Background()))

	t.Logf("%d faults; operations %v", applied, counts)
	require.Positive(t, applied, "no fault was injected; raise %s", soak.EnvDuration)
	unknown := 0
	for _, op := range h.operations() {
		if op.Output.(output).unknown {
			unknown++
		}
	}
	t.Logf("%d writes with unknown outcome", unknown)
	for _, what := range []string{"get", "put", "cas", "update", "delete", "batched put", "batched delete"} {
		require.Positive(t, counts[what]-counts[what+" error"], "no %s succeeded", what)
	}
	switch h.check(t, checkTimeout) {
	case porcupine.Illegal:
		t.Fatal("the history is not linearizable")
	case porcupine.Unknown:
		t.Fatalf("porcupine could not decide within %v; shorten %s", checkTimeout, soak.EnvDuration)
	}
}

// random runs one random operation and says which.
func (c *client) random(g *rand.Rand, keys []string) (string, error) {
	key := keys[g.IntN(len(keys))]
	batched := c.batch != nil && g.IntN(2) == 0
	switch n := g.IntN(100); {
	case n < 40:
		_, err := c.get(key)
		return "get", err
	case n < 55:
		if batched {
			return "batched put", c.put(key, true)
		}
		return "put", c.put(key, false)
	case n < 75:
		expect := c.seen[key] // the last revision seen, 0 (absent) if none
		if g.IntN(5) == 0 {
			expect = 0
		}
		return "cas", c.cas(key, expect)
	case n < 90:
		return "update", c.update(key)
	default:
		if batched {
			return "batched delete", c.del(key, true)
		}
		return "delete", c.del(key, false)
	}
}

// The negative control: reads served by a partitioned member from its own
// copy (Serializable) return the value from before the partition after
// the majority has moved on. The checker must reject that history.
func TestNegativeControlSerializableReads(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	h := newHistory()
	newClient := func(id int, cli *clientv3.Client) *client {
		s, err := kv.New[val](cli, "lin")
		require.NoError(t, err)
		return &client{id: id, h: h, store: s, timeout: 2 * time.Second, seen: map[string]int64{}}
	}
	majority, minority := newClient(0, c.Member(0).Client()), newClient(1, c.Member(2).Client())

	require.NoError(t, majority.put("k", false))
	// Member 2 has applied it (polled, not recorded).
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := minority.store.Get(ctx, "k", kv.Serializable())
		return err == nil
	}, 10*time.Second, 5*time.Millisecond)
	stale, err := minority.get("k", kv.Serializable())
	require.NoError(t, err)

	c.Partition(2)
	defer c.Heal()
	// The majority (members 0 and 1) elects a leader if it must, and writes.
	require.Eventually(t, func() bool {
		err := majority.put("k", false)
		if errors.Is(err, kv.ErrUnknownOutcome) {
			t.Logf("retrying with a new value: %v", err)
		}
		return err == nil
	}, 20*time.Second, 10*time.Millisecond)
	now, err := majority.get("k")
	require.NoError(t, err)
	require.NotEqual(t, stale.value, now.value)

	got, err := minority.get("k", kv.Serializable())
	require.NoError(t, err)
	require.Equal(t, stale.value, got.value, "the partitioned member cannot have the new value")
	t.Logf("serializable read on the partitioned member: %s after the majority wrote %s", got.value, now.value)

	res := h.check(t, time.Minute)
	require.Equal(t, porcupine.Illegal, res, fmt.Sprintf("porcupine accepted a stale read: %v", h.operations()))
}
