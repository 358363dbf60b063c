package interop_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/ops"
)

// probe GETs h and returns the status code and body.
func probe(t *testing.T, h http.Handler, query string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz"+query, nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, string(body)
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v", what, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

// Liveness and readiness of an embedded member and of the recipes a
// service runs on it, through a quorum loss and back, a blackholed
// watcher and a Run loop that ends.
func TestHealthHandlersFollowClusterAndRecipes(t *testing.T) {
	c := coordtest.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m0 := c.Member(0)
	n := m0.Node()

	reg, err := discovery.Register(ctx, c.Client(), discovery.Instance{Service: "api", Addr: "127.0.0.1:9000"})
	require.NoError(t, err)
	w, err := discovery.Watch(ctx, m0.Client(), "api", discovery.WithStaleAfter(time.Second))
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.WaitReady(ctx))

	health := election.NewHealth(2 * time.Second)
	require.ErrorIs(t, health.Check(ctx), election.ErrUnhealthy, "not running yet")
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() {
		runDone <- election.Run(runCtx, c.Client(), "leader", "me", election.Callbacks{}, election.WithHealth(health))
	}()
	eventually(t, "Run leads", func() error {
		if !health.Leading() {
			return io.EOF
		}
		return health.Check(ctx)
	})

	ready := n.ReadinessHandler(
		ops.CheckFunc("registration", reg.Check),
		ops.CheckFunc("watcher", w.Check),
		ops.CheckFunc("election", health.Check),
	)
	live := n.LivenessHandler()
	code, body := probe(t, ready, "?verbose")
	require.Equal(t, http.StatusOK, code, body)
	for _, name := range []string{"etcd", "registration", "watcher", "election"} {
		require.Contains(t, body, "[+]"+name+" ok")
	}
	code, body = probe(t, live, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	// A watcher that hears nothing from etcd goes stale, and readiness says so.
	m0.Link().Blackhole()
	eventually(t, "watcher stale", func() error {
		if code, body := probe(t, ready, ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]watcher failed") {
			return io.EOF
		}
		return nil
	})
	require.ErrorIs(t, w.Check(ctx), discovery.ErrStale)
	m0.Link().Unblackhole()
	eventually(t, "watcher current", func() error { return w.Check(ctx) })

	// Quorum lost: member 0 is live (a restart would not help) but not ready.
	c.Member(1).Kill()
	c.Member(2).Kill()
	eventually(t, "no leader", func() error {
		if err := n.Ready(ctx); err == nil || !strings.Contains(err.Error(), ops.ErrNoLeader.Error()) {
			return io.EOF
		}
		return nil
	})
	require.ErrorIs(t, n.Ready(ctx), ops.ErrNoLeader)
	require.NoError(t, n.Live(ctx))
	code, body = probe(t, ready, "")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "[-]etcd failed")
	code, _ = probe(t, live, "")
	require.Equal(t, http.StatusOK, code)

	c.Member(1).Restart()
	c.Member(2).Restart()
	eventually(t, "ready again", func() error { return n.Ready(ctx) })

	// The Run loop ends: its check fails and says why.
	stopRun()
	require.ErrorIs(t, <-runDone, context.Canceled)
	err = health.Check(ctx)
	require.ErrorIs(t, err, election.ErrUnhealthy)
	require.ErrorIs(t, err, context.Canceled)

	require.NoError(t, reg.Close(ctx))
	require.ErrorIs(t, reg.Check(ctx), discovery.ErrNotRegistered)

	// A stopped member is not live.
	m0.Kill()
	require.ErrorIs(t, n.Live(ctx), node.ErrStopped)
	code, _ = probe(t, live, "")
	require.Equal(t, http.StatusServiceUnavailable, code)
}

// A full database makes the member unready (an alarm), while it stays
// live, and a Run loop whose campaigns keep failing turns unhealthy after
// its tolerance, saying why.
func TestHealthReportsNoSpace(t *testing.T) {
	n := coordtest.NewNode(t, coordtest.WithQuota(1<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := kv.New[string](n.Client(), "fill", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	big := strings.Repeat("x", 64<<10)
	for i := 0; i < 1000; i++ {
		if _, err = store.Put(ctx, "big", big); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, ops.ErrNoSpace)

	err = n.Ready(ctx)
	require.ErrorIs(t, err, ops.ErrAlarm)
	require.ErrorIs(t, err, ops.ErrNoSpace)
	require.NoError(t, n.Live(ctx))
	require.ErrorIs(t, ops.ClusterHealth(ctx, n.NewClient(t)), ops.ErrNoSpace, "a remote client sees the same")

	health := election.NewHealth(300 * time.Millisecond)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runDone := make(chan error, 1)
	go func() {
		runDone <- election.Run(runCtx, n.Client(), "leader", "me", election.Callbacks{}, election.WithHealth(health))
	}()
	eventually(t, "Run unhealthy", func() error {
		if err := health.Check(ctx); err == nil || !strings.Contains(err.Error(), "campaigns failing") {
			return io.EOF
		}
		return nil
	})
	err = health.Check(ctx)
	require.ErrorIs(t, err, ops.ErrNoSpace, "the check says why campaigns fail")
	require.Contains(t, err.Error(), "campaigns failing")
	stopRun()
	<-runDone
}
