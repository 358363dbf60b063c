package election_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lease"
)

// Failover benchmarks: coordkit's election against etcd's
// concurrency.Election on the same kind of embedded node, in the same run.
//
//	go test -run '^$' -bench Failover -benchtime 20x ./election/
//
// Graceful: the leader resigns; measured until an observer sees the next
// leader (target: p50 ≤ 20 ms). Crash: the leader's keep-alive stops
// without a resign or revoke, as when its process dies; measured until an
// observer sees the next leader, with a 2 s TTL (target: ≤ TTL + 2 × the
// election timeout).

// latencies collects failover times and reports their percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B, name string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1)+0.5)]) / float64(time.Millisecond) }
	b.ReportMetric(at(0.5), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
}

// created returns a function that waits for the next new key under prefix.
func created(b *testing.B, cli *clientv3.Client, prefix string) func() string {
	wch := cli.Watch(b.Context(), prefix, clientv3.WithPrefix(), clientv3.WithFilterDelete())
	return func() string {
		for resp := range wch {
			for _, ev := range resp.Events {
				if ev.IsCreate() {
					return string(ev.Kv.Key)
				}
			}
		}
		b.Fatal("watch ended")
		return ""
	}
}

func BenchmarkFailoverGraceful(b *testing.B) {
	b.Run("coordkit", func(b *testing.B) {
		n := coordtest.NewNode(b)
		cli, ctx := n.Client(), b.Context()
		e, err := election.New(cli, "bench")
		if err != nil {
			b.Fatal(err)
		}
		events := e.Observe(ctx)
		nextKey := created(b, cli, "bench/")
		leader, err := e.Campaign(ctx, "c")
		if err != nil {
			b.Fatal(err)
		}
		nextKey()
		var observed, elected latencies
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			type result struct {
				term *election.Term
				at   time.Time
			}
			next := make(chan result, 1)
			go func() {
				term, err := e.Campaign(ctx, "c")
				if err != nil {
					b.Error(err)
				}
				next <- result{term, time.Now()}
			}()
			key := nextKey()
			b.StartTimer()
			start := time.Now()
			if err := leader.Resign(ctx); err != nil {
				b.Fatal(err)
			}
			for ev := range events {
				if ev.Leader.Key == key {
					break
				}
			}
			observed = append(observed, time.Since(start))
			r := <-next
			elected = append(elected, r.at.Sub(start))
			leader = r.term
		}
		b.StopTimer()
		observed.report(b, "observed")
		elected.report(b, "elected")
		_ = leader.Resign(ctx)
	})

	b.Run("concurrency", func(b *testing.B) {
		n := coordtest.NewNode(b)
		cli, ctx := n.Client(), b.Context()
		sessions := make([]*concurrency.Session, 3)
		for i := range sessions {
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			sessions[i] = s
		}
		events := concurrency.NewElection(sessions[2], "bench").Observe(ctx)
		nextKey := created(b, cli, "bench/")
		leader := concurrency.NewElection(sessions[0], "bench")
		if err := leader.Campaign(ctx, "c"); err != nil {
			b.Fatal(err)
		}
		nextKey()
		waiting := sessions[1]
		var observed, elected latencies
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			w := concurrency.NewElection(waiting, "bench")
			done := make(chan time.Time, 1)
			go func() {
				if err := w.Campaign(ctx, "c"); err != nil {
					b.Error(err)
				}
				done <- time.Now()
			}()
			key := nextKey()
			b.StartTimer()
			start := time.Now()
			if err := leader.Resign(ctx); err != nil {
				b.Fatal(err)
			}
			for resp := range events {
				if string(resp.Kvs[0].Key) == key {
					break
				}
			}
			observed = append(observed, time.Since(start))
			elected = append(elected, (<-done).Sub(start))
			// The old leader's session campaigns next time.
			for _, s := range sessions[:2] {
				if s != waiting {
					waiting = s
					break
				}
			}
			leader = w
		}
		b.StopTimer()
		observed.report(b, "observed")
		elected.report(b, "elected")
	})
}

// crashTTL is the lease TTL of the crash benchmarks.
const crashTTL = 2 * time.Second

func BenchmarkFailoverCrash(b *testing.B) {
	for _, et := range []time.Duration{100 * time.Millisecond, time.Second} {
		timing := coordtest.WithRaftTiming(et/10, et)
		b.Run(fmt.Sprintf("coordkit/election-timeout=%v", et), func(b *testing.B) {
			n := coordtest.NewNode(b, timing)
			benchCrashCoordkit(b, n.Client())
		})
		b.Run(fmt.Sprintf("concurrency/election-timeout=%v", et), func(b *testing.B) {
			n := coordtest.NewNode(b, timing)
			benchCrashConcurrency(b, n.Client())
		})
	}
}

// benchCrashCoordkit gives each candidate a lease of its own through
// WithLease, so that a crash is that lease's keep-alive stopping (Close,
// no revoke).
func benchCrashCoordkit(b *testing.B, cli *clientv3.Client) {
	ctx := b.Context()
	events := mustNew(b, cli, "crash").Observe(ctx)
	candidate := func() (*lease.Lease, *election.Election) {
		l, err := lease.Grant(ctx, cli, crashTTL)
		if err != nil {
			b.Fatal(err)
		}
		l.KeepAlive(ctx)
		return l, mustNew(b, cli, "crash", election.WithLease(l))
	}
	ll, le := candidate()
	defer ll.Close()
	leader, err := le.Campaign(ctx, "c")
	if err != nil {
		b.Fatal(err)
	}
	nextKey := created(b, cli, "crash/")
	var observed latencies
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		wl, we := candidate()
		defer wl.Close()
		next := make(chan *election.Term, 1)
		go func() {
			term, err := we.Campaign(ctx, "c")
			if err != nil {
				b.Error(err)
			}
			next <- term
		}()
		key := nextKey()
		b.StartTimer()
		start := time.Now()
		ll.Close() // the process is gone: no more keep-alives, no resign
		for ev := range events {
			if ev.Leader.Key == key {
				break
			}
		}
		observed = append(observed, time.Since(start))
		b.StopTimer()
		_ = leader.Resign(ctx) // releases the handle; the key is long gone
		leader, ll = <-next, wl
		b.StartTimer()
	}
	b.StopTimer()
	observed.report(b, "observed")
	_ = leader.Resign(ctx)
}

// benchCrashConcurrency crashes a concurrency.Session by orphaning it:
// keep-alives stop, the lease is not revoked.
func benchCrashConcurrency(b *testing.B, cli *clientv3.Client) {
	ctx := b.Context()
	session := func() *concurrency.Session {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(int(crashTTL/time.Second)))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	obs := session()
	defer obs.Close()
	events := concurrency.NewElection(obs, "crash").Observe(ctx)
	ls := session()
	if err := concurrency.NewElection(ls, "crash").Campaign(ctx, "c"); err != nil {
		b.Fatal(err)
	}
	nextKey := created(b, cli, "crash/")
	var observed latencies
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ws := session()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := concurrency.NewElection(ws, "crash").Campaign(ctx, "c"); err != nil {
				b.Error(err)
			}
		}()
		key := nextKey()
		b.StartTimer()
		start := time.Now()
		ls.Orphan()
		for resp := range events {
			if string(resp.Kvs[0].Key) == key {
				break
			}
		}
		observed = append(observed, time.Since(start))
		b.StopTimer()
		<-done
		ls = ws
		b.StartTimer()
	}
	b.StopTimer()
	observed.report(b, "observed")
	_ = ls.Close()
}

func mustNew(b *testing.B, cli *clientv3.Client, name string, opts ...election.Option) *election.Election {
	e, err := election.New(cli, name, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return e
}
