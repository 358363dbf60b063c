package node_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
)

// With a 5 s election timeout, the followers of a leader that stopped
// without a word would have no leader for at least 5 s; a leader's Close
// hands leadership over first, so the cluster has one when Close returns.
func TestLeaderCloseHandsLeadershipOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := fast("h")
	cfg.TickInterval = 50 * time.Millisecond
	cfg.ElectionTimeout = 5 * time.Second
	cfg.ReadyTimeout = 30 * time.Second
	nodes := startCluster(t, 3, cfg)
	lead := leaderOf(t, nodes)
	_, err := lead.Client().Put(ctx, "k", "v") // every member has applied something in this term
	require.NoError(t, err)
	require.NoError(t, lead.Close())

	var heirs []*node.Node
	for _, n := range nodes {
		if n != lead {
			heirs = append(heirs, n)
		}
	}
	st, err := heirs[0].Status(ctx)
	require.NoError(t, err)
	require.NotZero(t, st.Leader, "no leader right after the old one closed")
	require.NotEqual(t, lead.ID(), st.Leader)
	wctx, cancel := context.WithTimeout(ctx, time.Second) // well under the 5 s election timeout
	defer cancel()
	_, err = heirs[0].Client().Put(wctx, "k", "after")
	require.NoError(t, err)
}

// After Kill and Close the member's ports and data directory are free at
// once: the same member restarts on them immediately, with its data.
func TestKilledAndClosedMemberRestartsAtOnceOnSamePortsAndDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := fast("again")
	cfg.Dir = t.TempDir()
	cfg.ClientURLs = []string{"http://" + freeAddr(t)}
	cfg.PeerURLs = []string{"http://" + freeAddr(t)}
	n, err := node.Start(ctx, cfg)
	require.NoError(t, err)
	_, err = n.Client().Put(ctx, "k", "kept")
	require.NoError(t, err)
	for _, stop := range []func(*node.Node) error{(*node.Node).Kill, (*node.Node).Close} {
		require.NoError(t, stop(n))
		n, err = node.Start(ctx, cfg)
		require.NoError(t, err)
		r, err := n.Client().Get(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "kept", string(r.Kvs[0].Value))
	}
	require.NoError(t, n.Close())
	<-n.Drained()
}

// BenchmarkStop measures Close and Kill of 1 and of 3 members, the 3 at
// once (with a remote client's watch open on each, as a served member
// has); starting is not timed. Drained is waited for outside the timing.
//
//	go test -run '^$' -bench BenchmarkStop -benchtime 10x .
func BenchmarkStop(b *testing.B) {
	for _, size := range []int{1, 3} {
		for _, mode := range []string{"Close", "Kill"} {
			for _, timing := range []string{"fast", "default"} {
				b.Run(fmt.Sprintf("%s/members=%d/timing=%s", mode, size, timing), func(b *testing.B) {
					cfg := fast("b")
					if timing == "default" { // etcd's: 100 ms heartbeat, 1 s election timeout
						cfg.TickInterval, cfg.ElectionTimeout = 100*time.Millisecond, time.Second
					}
					benchStop(b, size, mode, cfg)
				})
			}
		}
	}
}

func benchStop(b *testing.B, size int, mode string, cfg node.Config) {
	ctx := context.Background()
	var times []time.Duration
	for b.Loop() {
		b.StopTimer()
		nodes, err := node.StartCluster(ctx, size, cfg)
		require.NoError(b, err)
		var eps []string
		for _, n := range nodes {
			eps = append(eps, n.Endpoints()...)
		}
		cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: eps, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(b, err)
		wctx, cancel := context.WithCancel(ctx)
		wc := cli.Watch(wctx, "w")
		_, err = cli.Put(ctx, "w", "1")
		require.NoError(b, err)
		<-wc
		begin := time.Now()
		b.StartTimer()
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if mode == "Close" {
					n.Close()
				} else {
					n.Kill()
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		times = append(times, time.Since(begin))
		cancel()
		cli.Close()
		closeAll(nodes)
		b.StartTimer()
	}
	reportTimes(b, times)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// reportTimes reports the median and the worst of times.
func reportTimes(b *testing.B, times []time.Duration) {
	slices.Sort(times)
	b.ReportMetric(ms(times[len(times)/2]), "p50-ms")
	b.ReportMetric(ms(times[len(times)-1]), "worst-ms")
}

// closeAll closes nodes and waits until they have drained.
func closeAll(nodes []*node.Node) {
	for _, n := range nodes {
		n.Close()
	}
	for _, n := range nodes {
		<-n.Drained()
	}
}
