package lock_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/soak"
	"github.com/coordkit/coordkit/lock"
)

// lockFaults are longer than the 2 s lock TTL at times, so that holds are
// lost, not only delayed.
var lockFaults = soak.Timing{Gap: 200 * time.Millisecond, Min: 300 * time.Millisecond, Max: 3 * time.Second}

// Eight workers on a three-member cluster increment a counter under the
// lock with fenced writes, to etcd and to external storage, while the
// seed's fault schedule kills members (the raft leader among them),
// partitions them, and blackholes, drops and delays their client links.
// The count must be exact, tokens must increase, no two holds may overlap
// and the external storage must see no superseded token.
func TestSafetyUnderFaults(t *testing.T) {
	t.Parallel()
	const workers = 8
	run := soak.Start(t, 10*time.Second)
	c := coordtest.NewCluster(t, 3)
	hr := newHarness("safety", true, 3)
	stop, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	hr.stop = stop
	ctx, cancel := context.WithTimeout(context.Background(), run.Duration+5*time.Minute)
	defer cancel()

	clientFor := func(w int) *clientv3.Client {
		if w >= 6 {
			return c.Client() // knows every member, fails over
		}
		return c.Member(w % 3).Client()
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			if err := hr.worker(ctx, w, clientFor(w), 0, 2*time.Second, nil); err != nil {
				errs <- err
			}
		})
	}

	applied := run.Inject(ctx, c, run.Schedule(c.Size(), lockFaults))
	// Faults are over: a healthy cluster must let the workers make progress,
	// however little a loaded machine allowed during the faults.
	awaitProgress(t, "an increment", func() bool { return hr.progress.Load() > 0 })
	stopWorkers()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	hr.logErrors(t)
	require.Positive(t, applied, "no fault was injected; raise %s", soak.EnvDuration)
	require.Positive(t, hr.progress.Load(), "no increment was made")
	require.Empty(t, hr.check(t, c.Client()))
}

// The negative control: the same workload without fencing (etcd writes
// not conditioned on the hold, external storage ignoring tokens), with a
// holder paused past its TTL (its link blackholed) between its reads and
// its writes, so that another worker takes the lock and increments
// meanwhile. The harness must report the lost updates, in etcd and in the
// external storage. With fencing, the same script passes: the late writes
// are refused.
func TestNegativeControlCatchesUnfencedWrites(t *testing.T) {
	for _, fenced := range []bool{false, true} {
		t.Run("fenced="+strconv.FormatBool(fenced), func(t *testing.T) {
			t.Parallel()
			n := coordtest.NewNode(t)
			link := n.NewLink(t)
			hr := newHarness("control", fenced, 2)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			// Worker 0 pauses in its first increment: cut off until its
			// hold is lost and worker 1 has incremented, then resumed.
			paused := make(chan struct{})
			pause := func(iter int, h *lock.Held) {
				if iter != 0 || h == nil {
					return
				}
				select {
				case <-paused:
					return // only the first attempt pauses
				default:
				}
				close(paused)
				link.Blackhole()
				<-h.Done()
				for hr.progress.Load() < 1 && ctx.Err() == nil {
					select {
					case <-time.After(10 * time.Millisecond):
					case <-ctx.Done():
					}
				}
				link.Unblackhole()
				// Resume once the link carries requests again.
				for ctx.Err() == nil {
					gctx, gcancel := context.WithTimeout(ctx, time.Second)
					_, err := link.Client().Get(gctx, "ping")
					gcancel()
					if err == nil {
						break
					}
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			wg.Go(func() { errs <- hr.worker(ctx, 0, link.Client(), 3, 2*time.Second, pause) })
			<-paused // worker 1 queues behind the paused holder
			wg.Go(func() { errs <- hr.worker(ctx, 1, n.Client(), 3, 2*time.Second, nil) })
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			violations := hr.check(t, n.Client())
			if fenced {
				require.Empty(t, violations)
				require.Positive(t, hr.notHeld.Load(), "the paused holder's late write was refused")
				require.Positive(t, hr.stale.Load(), "the paused holder's late external write was refused")
				return
			}
			require.NotEmpty(t, violations, "the harness missed an unfenced write after a lost hold")
			require.Contains(t, violations[0], "lost or doubled update")
			require.True(t, slices.ContainsFunc(violations, func(v string) bool {
				return strings.HasPrefix(v, "lost update: worker 0")
			}), "the external storage check missed the late write: %v", violations)
			t.Logf("caught, as it should: %v", violations)
		})
	}
}
