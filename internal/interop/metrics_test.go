package interop_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/metrics/prom"
)

// metricValue reads one sample of a gathered registry: a counter's or
// gauge's value, or a histogram's sample count. labels are name=value
// pairs the sample must carry. Missing means 0.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// waitValue waits until the metric reaches want.
func waitValue(t *testing.T, reg *prometheus.Registry, want float64, name string, labels ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s%v = %v", name, labels, want), func() error {
		if got := metricValue(t, reg, name, labels...); got != want {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
}

// A registry is scraped after real lock, election, discovery, kv and lease
// activity on a cluster, and every value moved as the activity says.
func TestMetricsAfterRealActivity(t *testing.T) {
	c := coordtest.NewCluster(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	p := prom.New(reg)

	// lock: one acquisition, one busy Try, one that waits, a loss by key
	// deletion, and a fenced write refused after it.
	m1, err := lock.NewMutex(cli, "jobs", lock.WithMetrics(p))
	require.NoError(t, err)
	defer m1.Close(ctx)
	m2, err := lock.NewMutex(cli, "jobs", lock.WithMetrics(p))
	require.NoError(t, err)
	defer m2.Close(ctx)
	h1, err := m1.Lock(ctx)
	require.NoError(t, err)
	_, err = m2.TryLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked)
	got2 := make(chan *lock.Held, 1)
	go func() {
		h, err := m2.Lock(ctx)
		if err != nil {
			t.Error(err)
		}
		got2 <- h
	}()
	require.NoError(t, h1.Unlock(ctx))
	h2 := <-got2
	require.NotNil(t, h2)
	lost := h2.Done()
	_, err = cli.Delete(ctx, h2.Key())
	require.NoError(t, err)
	<-lost
	_, err = h2.Do(ctx)
	require.ErrorIs(t, err, lock.ErrNotHeld)

	require.Equal(t, 2.0, metricValue(t, reg, "coordkit_lock_acquisitions_total", "outcome", "acquired"))
	require.Equal(t, 1.0, metricValue(t, reg, "coordkit_lock_acquisitions_total", "outcome", "busy"))
	require.Equal(t, 2.0, metricValue(t, reg, "coordkit_lock_wait_seconds"))
	waitValue(t, reg, 1, "coordkit_lock_losses_total", "cause", "key_deleted")
	require.Equal(t, 2.0, metricValue(t, reg, "coordkit_lock_hold_seconds"), "one Unlock, one loss")
	require.Equal(t, 1.0, metricValue(t, reg, "coordkit_lock_fenced_refused_total"))
	require.Positive(t, metricValue(t, reg, "coordkit_lease_keepalive_seconds"), "the handles' own leases report renewals")

	// election: a leader, successors that take over on resignation, and
	// the last one's loss by key deletion. A successor records a takeover
	// when it waited for its predecessor's key to go; its key exists before
	// each resignation, but it may not have read the election yet, so
	// handovers repeat until one was waited for (nearly always the first).
	e1, err := election.New(cli, "leader", election.WithMetrics(p))
	require.NoError(t, err)
	e2, err := election.New(cli, "leader", election.WithMetrics(p))
	require.NoError(t, err)
	term, err := e1.Campaign(ctx, "one")
	require.NoError(t, err)
	waitValue(t, reg, 1, "coordkit_election_leader")
	handovers := 0
	for next, other := e2, e1; metricValue(t, reg, "coordkit_election_takeover_seconds") == 0; next, other = other, next {
		require.Less(t, handovers, 20, "no successor ever waited for its predecessor")
		won := make(chan *election.Term, 1)
		go func() {
			nt, err := next.Campaign(ctx, "next")
			if err != nil {
				t.Error(err)
			}
			won <- nt
		}()
		eventually(t, "successor's key", func() error {
			resp, err := cli.Get(ctx, "leader/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != 2 {
				return io.EOF
			}
			return nil
		})
		require.NoError(t, term.Resign(ctx))
		term = <-won
		require.NotNil(t, term)
		handovers++
	}
	require.Equal(t, float64(handovers+1), metricValue(t, reg, "coordkit_election_campaigns_total"))
	require.Equal(t, float64(handovers+1), metricValue(t, reg, "coordkit_election_terms_won_total"))
	waitValue(t, reg, 1, "coordkit_election_leader")
	require.Zero(t, metricValue(t, reg, "coordkit_election_leadership_lost_total", "cause", "key_deleted"), "a resignation is no loss")
	_, err = cli.Delete(ctx, term.Key())
	require.NoError(t, err)
	<-term.Done()
	waitValue(t, reg, 1, "coordkit_election_leadership_lost_total", "cause", "key_deleted")
	waitValue(t, reg, 0, "coordkit_election_leader")

	// discovery: a registration, its loss and re-registration, a watcher.
	w, err := discovery.Watch(ctx, cli, "api", discovery.WithMetrics(p))
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.WaitReady(ctx))
	require.Zero(t, metricValue(t, reg, "coordkit_discovery_watcher_stale", "service", "api"))
	r, err := discovery.Register(ctx, cli, discovery.Instance{Service: "api", Addr: "127.0.0.1:9000"}, discovery.WithMetrics(p))
	require.NoError(t, err)
	require.Equal(t, 1.0, metricValue(t, reg, "coordkit_discovery_registrations", "state", "registered"))
	waitValue(t, reg, 1, "coordkit_discovery_watcher_instances", "service", "api")
	rb, err := discovery.NewResolverBuilder(cli, discovery.WithMetrics(p))
	require.NoError(t, err)
	conn, err := grpc.NewClient("coordkit:///api", grpc.WithResolvers(rb), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	conn.Connect() // builds the resolver, which pushes the address list
	waitValue(t, reg, 1, "coordkit_discovery_resolver_updates_total")
	require.NoError(t, conn.Close())
	_, err = cli.Delete(ctx, r.Key())
	require.NoError(t, err)
	waitValue(t, reg, 1, "coordkit_discovery_reregistrations_total")
	waitValue(t, reg, 1, "coordkit_discovery_registrations", "state", "registered")
	require.Zero(t, metricValue(t, reg, "coordkit_discovery_registrations", "state", "lost"))
	require.NoError(t, r.Close(ctx))
	require.Zero(t, metricValue(t, reg, "coordkit_discovery_registrations", "state", "registered"))
	waitValue(t, reg, 0, "coordkit_discovery_watcher_instances", "service", "api")

	// kv: a Batcher's transactions; a watch resumed after its member lost
	// the leader (etcd cancels leaderless watches); a watch resynchronised
	// because the history it asked for was compacted.
	watched := 0
	if c.Leader() == 0 {
		watched = 1
	}
	store, err := kv.New[string](c.Member(watched).Client(), "cfg", kv.WithCodec(kv.StringCodec), kv.WithMetrics(p))
	require.NoError(t, err)
	b, err := store.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())
	for i := 0; i < 3; i++ {
		_, err := b.Put(ctx, fmt.Sprint("k", i), "v")
		require.NoError(t, err)
	}
	require.Equal(t, 3.0, metricValue(t, reg, "coordkit_kv_batch_size_ops"), "three sequential puts, three txns")
	require.Equal(t, 3.0, metricValue(t, reg, "coordkit_kv_batch_commit_seconds"))
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events, err := store.Watch(wctx)
	require.NoError(t, err)
	go func() {
		for range events.Events() { // drained so the watch keeps reading
		}
	}()
	c.Partition(watched)
	eventually(t, "watch resumed", func() error {
		if metricValue(t, reg, "coordkit_kv_watch_resumes_total") < 1 {
			return io.EOF
		}
		return nil
	})
	c.Heal()
	leader, err := c.WaitLeader(ctx)
	require.NoError(t, err)
	stopWatch()
	<-events.Done()
	require.Zero(t, metricValue(t, reg, "coordkit_kv_watch_resyncs_total"))

	lcli := c.Member(leader).Client()
	all, err := kv.New[string](lcli, "cfg", kv.WithCodec(kv.StringCodec), kv.WithMetrics(p))
	require.NoError(t, err)
	first, err := all.Put(ctx, "a", "1")
	require.NoError(t, err)
	last, err := all.Put(ctx, "a", "2")
	require.NoError(t, err)
	_, err = lcli.Compact(ctx, last)
	require.NoError(t, err)
	rctx, stopResync := context.WithCancel(ctx)
	old, err := all.Watch(rctx, kv.FromRevision(first))
	require.NoError(t, err)
	ev := <-old.Events()
	require.Equal(t, kv.EventResync, ev.Type, "%+v", ev)
	stopResync()
	<-old.Done()
	require.Equal(t, 1.0, metricValue(t, reg, "coordkit_kv_watch_resyncs_total"))

	// lease: a lease revoked behind its keep-alive's back is lost.
	require.Zero(t, metricValue(t, reg, "coordkit_lease_losses_total", "cause", "expired"), "leases ended by their owners are no losses")
	l, err := lease.Grant(ctx, cli, 5*time.Second, lease.WithMetrics(p))
	require.NoError(t, err)
	l.KeepAlive(ctx)
	_, err = cli.Revoke(ctx, l.ID())
	require.NoError(t, err)
	<-l.Done()
	require.ErrorIs(t, l.Err(), lease.ErrExpired)
	require.Equal(t, 1.0, metricValue(t, reg, "coordkit_lease_losses_total", "cause", "expired"))

	// The scrape: every family is coordkit's, named by convention, and
	// passes Prometheus' own linter.
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		require.True(t, strings.HasPrefix(f.GetName(), "coordkit_"), f.GetName())
		require.Contains(t, text, "# TYPE "+f.GetName())
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	require.NoError(t, err)
	require.Empty(t, problems)
}
