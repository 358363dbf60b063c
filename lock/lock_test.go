package lock_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/lock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// within bounds every wait in these tests; none is a timing assertion.
const within = 20 * time.Second

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*within)
	t.Cleanup(cancel)
	return ctx
}

func newMutex(t *testing.T, cli *clientv3.Client, name string, opts ...lock.Option) *lock.Mutex {
	t.Helper()
	m, err := lock.NewMutex(cli, name, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	return m
}

// keysUnder lists the keys under pfx in create-revision order.
func keysUnder(t *testing.T, cli *clientv3.Client, pfx string) []string {
	t.Helper()
	resp, err := cli.Get(context.Background(), pfx, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	require.NoError(t, err)
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// waitKeys waits until exactly n keys are under pfx.
func waitKeys(t *testing.T, cli *clientv3.Client, pfx string, n int) []string {
	t.Helper()
	var keys []string
	require.Eventually(t, func() bool {
		keys = keysUnder(t, cli, pfx)
		return len(keys) == n
	}, within, 10*time.Millisecond, "want %d keys under %s, have %v", n, pfx, keys)
	return keys
}

type result struct {
	h   *lock.Held
	err error
}

// async runs an acquisition in the background.
func async(f func() (*lock.Held, error)) <-chan result {
	ch := make(chan result, 1)
	go func() {
		h, err := f()
		ch <- result{h, err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var ours []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "coordkit/lock") || strings.Contains(g, "coordkit/lease") {
				ours = append(ours, g)
			}
		}
		t.Fatalf("acquisition did not return; lock and lease goroutines:\n%s", strings.Join(ours, "\n\n"))
		return result{}
	}
}

// notYet asserts the acquisition has not returned (without waiting).
func notYet(t *testing.T, ch <-chan result) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("acquisition returned early: %+v", r)
	default:
	}
}

func waitLost(t *testing.T, h *lock.Held) error {
	t.Helper()
	select {
	case <-h.Done():
		return h.Err()
	case <-time.After(within):
		t.Fatalf("hold on %s not reported lost", h.Key())
		return nil
	}
}

// eventually retries a late operation of a holder whose connection was
// just restored (a blackholed link can leave a broken stream behind) until
// etcd gives a definite answer, and returns it.
func eventually(t *testing.T, op func() error, definite ...error) error {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		err = op()
		if err == nil {
			return true
		}
		for _, d := range definite {
			if errors.Is(err, d) {
				return true
			}
		}
		return false
	}, within, 50*time.Millisecond, "last error: %v", err)
	return err
}
