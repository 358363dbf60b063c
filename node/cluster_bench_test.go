package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/node"
)

// BenchmarkJoin measures a member joining a running single-member cluster
// that holds COORDKIT_JOIN_MB megabytes (default 100) of values: from
// node.Start with Join (the learner is added) to its return (promoted). The
// member then leaves again, untimed (etcd makes a removal wait 5 s after a
// join). fsync is off.
//
//	go test -run '^$' -bench BenchmarkJoin -benchtime 3x .
func BenchmarkJoin(b *testing.B) {
	mb := 100
	if s := os.Getenv("COORDKIT_JOIN_MB"); s != "" {
		var err error
		mb, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	ctx := context.Background()
	cfg := fast("j0")
	cfg.QuotaBackendBytes = 4 << 30
	cfg.TickInterval, cfg.ElectionTimeout = 100*time.Millisecond, time.Second
	first, err := node.Start(ctx, cfg)
	require.NoError(b, err)
	defer first.Close()
	fillValues(b, first.Client(), mb)
	st, err := first.Status(ctx)
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		jc := fast(fmt.Sprintf("j%d", i+1))
		jc.QuotaBackendBytes = cfg.QuotaBackendBytes
		jc.TickInterval, jc.ElectionTimeout = cfg.TickInterval, cfg.ElectionTimeout
		jc.ReadyTimeout = 5 * time.Minute
		jc.Join = &coordkit.ClientConfig{Endpoints: first.Endpoints(), Logger: slog.New(slog.DiscardHandler)}
		n, err := node.Start(ctx, jc)
		require.NoError(b, err)
		b.StopTimer()
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		require.NoError(b, n.Leave(lctx))
		cancel()
		<-n.Drained()
		b.StartTimer()
	}
	b.ReportMetric(float64(st.DBSize)/(1<<20), "db-MiB")
}

// fillValues writes mb megabytes of 128 KiB values.
func fillValues(b *testing.B, cli *clientv3.Client, mb int) {
	value := string(make([]byte, 128<<10))
	n := mb * 8
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if _, err := cli.Put(context.Background(), fmt.Sprintf("fill/%06d", i), value); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(b, <-errs)
}

// BenchmarkElectionFailover measures how long three election.Run replicas,
// each on its own member of a 3-member cluster (etcd's default timing: 100
// ms heartbeat, 1 s election timeout), are without a leader when the
// leading replica's member is killed: from Kill to another replica's
// OnElected. The replicas use leases of MinLeaseTTL (4 s); the dead
// replica's lease must expire before another can lead.
//
//	go test -run '^$' -bench BenchmarkElectionFailover -benchtime 5x .
func BenchmarkElectionFailover(b *testing.B) {
	ctx := context.Background()
	var times []time.Duration
	for b.Loop() {
		b.StopTimer()
		cfg := fast("e")
		cfg.TickInterval, cfg.ElectionTimeout = 100*time.Millisecond, time.Second
		cfg.ReadyTimeout = time.Minute
		nodes, err := node.StartCluster(ctx, 3, cfg)
		require.NoError(b, err)
		ttl := coordkit.MinLeaseTTL(nodes[0].ElectionTimeout())
		elected := make(chan int, 16)
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				election.Run(rctx, n.Client(), "bench", strconv.Itoa(i), election.Callbacks{
					OnElected: func(ctx context.Context, _ *election.Term) { elected <- i; <-ctx.Done() },
				}, election.WithTTL(ttl), election.WithLogger(slog.New(slog.DiscardHandler)))
			}()
		}
		first := <-elected
		b.StartTimer()
		begin := time.Now()
		require.NoError(b, nodes[first].Kill())
		var next int
		select {
		case next = <-elected:
		case <-time.After(10 * ttl):
			b.Fatalf("no replica took over within %v", 10*ttl)
		}
		took := time.Since(begin)
		b.StopTimer()
		require.NotEqual(b, first, next)
		times = append(times, took)
		cancel()
		wg.Wait()
		closeAll(nodes)
		b.StartTimer()
	}
	reportTimes(b, times)
}
