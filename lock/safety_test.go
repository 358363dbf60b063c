package lock_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lock"
)

// safetyIterations is per worker; LOCK_SAFETY_ITERS overrides it.
func safetyIterations(t *testing.T) int {
	if s := os.Getenv("LOCK_SAFETY_ITERS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return 200
}

// Eight workers on a three-member cluster increment a counter under the
// lock with fenced writes, while the leader is killed and restarted and
// then another member is partitioned and healed. The count must be exact,
// tokens must increase, and no two holds may overlap.
func TestSafetyUnderFaults(t *testing.T) {
	t.Parallel()
	const workers = 8
	iters := safetyIterations(t)
	c := coordtest.NewCluster(t, 3)
	hr := newHarness("safety", true, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	clientFor := func(w int) *clientv3.Client {
		if w >= 6 {
			return c.Client() // knows every member, fails over
		}
		return c.Member(w % 3).Client()
	}
	failed := make(chan struct{})
	var failOnce sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			if err := hr.worker(ctx, w, clientFor(w), iters, 2*time.Second, nil); err != nil {
				errs <- err
				failOnce.Do(func() { close(failed) })
			}
		})
	}

	total := int64(workers * iters)
	all := func(int) bool { return true }
	// Workers tied to a member other than m. Progress while m is down is
	// awaited from them (the cluster-client workers 6 and 7 add to it but
	// are not waited for: their client keeps trying m, so once the tied
	// workers are done they alone may take minutes for the rest).
	notOn := func(m int) func(int) bool {
		return func(w int) bool { return w < 6 && w%3 != m }
	}
	faultSeen := func(m int, since int64) func() bool {
		return func() bool { return hr.faults[m].Load() > since }
	}

	// Kill the leader once a quarter of the work is done; restart it
	// after its workers have felt it and the others made progress.
	hr.waitProgress(t, total/4, workers, all, failed)
	killed := c.Leader()
	before := hr.faults[killed].Load()
	c.Member(killed).Kill()
	t.Logf("%s killed %v at %d increments", time.Now().Format("15:04:05.000"), c.Member(killed), hr.progress.Load())
	if !assert.Eventually(t, faultSeen(killed, before), within, 10*time.Millisecond, "no worker noticed the kill") {
		hr.dump(t)
		t.FailNow()
	}
	hr.waitProgress(t, hr.progress.Load()+total/16, workers, notOn(killed), failed)
	c.Member(killed).Restart()
	t.Logf("%s restarted %v at %d increments", time.Now().Format("15:04:05.000"), c.Member(killed), hr.progress.Load())

	// Partition a member from the others at half way; heal after its
	// workers have felt it and the majority made progress.
	hr.waitProgress(t, total/2, workers, all, failed)
	cut := (c.Leader() + 1) % 3
	before = hr.faults[cut].Load()
	c.Partition(cut)
	t.Logf("%s partitioned %v at %d increments", time.Now().Format("15:04:05.000"), c.Member(cut), hr.progress.Load())
	if !assert.Eventually(t, faultSeen(cut, before), within, 10*time.Millisecond, "no worker noticed the partition") {
		hr.dump(t)
		t.FailNow()
	}
	hr.waitProgress(t, hr.progress.Load()+total/16, workers, notOn(cut), failed)
	c.Heal()
	t.Logf("%s healed at %d increments", time.Now().Format("15:04:05.000"), hr.progress.Load())

	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	hr.logErrors(t)
	require.Empty(t, hr.check(t, c.Client()))
	require.GreaterOrEqual(t, hr.progress.Load(), total)
}

// The negative control: the same workload without fencing, with a holder
// paused past its TTL (its link blackholed) between its read and its
// write, so that another worker takes the lock and increments meanwhile.
// The harness must report the lost update. With fencing, the same script
// passes: the late write is refused.
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
				<-h.Lost()
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
				return
			}
			require.NotEmpty(t, violations, "the harness missed an unfenced write after a lost hold")
			require.Contains(t, violations[0], "lost or doubled update")
			t.Logf("caught, as it should: %v", violations)
		})
	}
}
