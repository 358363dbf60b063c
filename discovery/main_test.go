package discovery_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/discovery"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet keeps registration and watcher logs out of test output.
var quiet = discovery.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// wait bounds every wait for a condition in these tests: generous, since
// the machine is shared; timing itself is measured by the benchmarks.
const wait = 15 * time.Second

// ctxT is a context that ends after d, or with the test.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// register registers inst and closes the registration when the test ends.
func register(t testing.TB, cli *clientv3.Client, inst discovery.Instance, opts ...discovery.RegisterOption) *discovery.Registration {
	t.Helper()
	reg, err := discovery.Register(ctxT(t, wait), cli, inst, append([]discovery.RegisterOption{quiet}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	return reg
}

// watch starts a ready watcher, closed when the test ends.
func watch(t testing.TB, cli *clientv3.Client, service string, opts ...discovery.WatchOption) *discovery.Watcher {
	t.Helper()
	w, err := discovery.Watch(context.Background(), cli, service, append([]discovery.WatchOption{quiet}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(w.Close)
	require.NoError(t, w.WaitReady(ctxT(t, wait)))
	return w
}

// waitState reads reg's state changes until one in state want, and
// returns it; it fails the test after wait.
func waitState(t testing.TB, reg *discovery.Registration, want discovery.State) discovery.StateChange {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case c, ok := <-reg.States():
			require.True(t, ok, "States closed while waiting for %s", want)
			if c.State == want {
				return c
			}
		case <-timeout:
			t.Fatalf("registration %s not %s within %v; state %s, err %v", reg.Key(), want, wait, reg.State(), reg.Err())
		}
	}
}

// waitFor waits until cond holds on w's snapshot, checking after every
// change; it fails the test after wait.
func waitFor(t testing.TB, w *discovery.Watcher, what string, cond func(discovery.Snapshot) bool) discovery.Snapshot {
	t.Helper()
	timeout := time.After(wait)
	// Changes fires when the instances or the staleness change, not when
	// only the snapshot's revision moves on (an identical re-registration,
	// a progress notification), so conditions are also looked at again
	// every few milliseconds.
	recheck := time.NewTicker(20 * time.Millisecond)
	defer recheck.Stop()
	for {
		if s := w.Snapshot(); cond(s) {
			return s
		}
		select {
		case _, ok := <-w.Changes():
			require.True(t, ok, "watcher closed while waiting for %s", what)
		case <-recheck.C:
		case <-timeout:
			t.Fatalf("watcher of %s: not %s within %v; has %v (stale: %v)", w.Service(), what, wait, ids(w.Instances()), w.Err())
		}
	}
}

func ids(insts []discovery.Instance) []string {
	out := make([]string, len(insts))
	for i, in := range insts {
		out[i] = in.ID
	}
	return out
}

func has(id string) func(discovery.Snapshot) bool {
	return func(s discovery.Snapshot) bool {
		for _, in := range s.Instances {
			if in.ID == id {
				return true
			}
		}
		return false
	}
}

func hasNot(id string) func(discovery.Snapshot) bool {
	return func(s discovery.Snapshot) bool { return s.Revision != 0 && !has(id)(s) }
}
