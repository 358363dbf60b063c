package lock_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/safety"
	"github.com/coordkit/coordkit/internal/soak"
	"github.com/coordkit/coordkit/lock"
)

// pins assigns recipe holders to members (-1: the client of every member).
// Holder 2 alone uses member 2: it pauses past its TTL by cutting member
// 2's link, which the fault schedule leaves alone.
var pins = []int{0, 1, 2, 0, 1, -1}

const pausedMember = 2

func pinnedClient(c *coordtest.Cluster, i int) *clientv3.Client {
	if pins[i] < 0 {
		return c.Client()
	}
	return c.Member(pins[i]).Client()
}

// recipeFaults is the run's fault schedule with link faults moved off the
// paused holder's member (the pause is that member's link fault). They are
// moved, not dropped, so that no seed leaves a run without faults.
func recipeFaults(run *soak.Run, c *coordtest.Cluster) []soak.Fault {
	faults := run.Schedule(c.Size(), lockFaults)
	for i, f := range faults {
		if f.Member == pausedMember && (f.Kind == soak.Blackhole || f.Kind == soak.Drop || f.Kind == soak.Delay) {
			faults[i].Member = (pausedMember + 1) % c.Size()
		}
	}
	return faults
}

// Six holders of a semaphore of 2 on a three-member cluster, one of them
// paused past its TTL, under the seed's fault schedule: never more than 2
// live holds.
func TestSemaphoreSafetyUnderFaults(t *testing.T) {
	t.Parallel()
	const limit = 2
	run := soak.Start(t, 8*time.Second)
	c := coordtest.NewCluster(t, 3)
	hs := &holders{store: safety.NewStore(true)}
	stop, stopHolders := context.WithCancel(context.Background())
	defer stopHolders()
	const ttl = 2 * time.Second

	var wg sync.WaitGroup
	for i := range pins {
		sem := newSem(t, pinnedClient(c, i), "sem", limit, lock.WithTTL(ttl))
		hd := holder{who: who(i), acquire: sem.Acquire}
		if pins[i] == pausedMember {
			hd.pause = hs.pauseOn(t, c.Member(pausedMember).Link())
		}
		g := rand.New(rand.NewPCG(uint64(run.Rand.Int64()), uint64(i)))
		wg.Go(func() { hs.loop(stop, hd, ttl, g) })
	}
	applied := run.Inject(context.Background(), c, recipeFaults(run, c))
	awaitProgress(t, "a hold", func() bool { return hs.holds.Len() > 0 })
	stopHolders()
	wg.Wait()
	hs.logErrors(t)
	require.Positive(t, applied, "no fault was injected; raise %s", soak.EnvDuration)
	require.Positive(t, hs.holds.Len())
	require.Empty(t, hs.holds.Check(limit))
}

// The negative control: a holder of a semaphore of 2 is paused past its
// TTL and a third takes its place. A broken holder that ignores its loss
// makes three live holds, which the check must report; the real one does
// not.
func TestSemaphoreNegativeControl(t *testing.T) {
	for _, broken := range []bool{true, false} {
		t.Run("broken="+strconv.FormatBool(broken), func(t *testing.T) {
			t.Parallel()
			violations, _ := pausedHolderControl(t, broken, 2, false,
				func(t *testing.T, cli *clientv3.Client) func(context.Context) (*lock.Held, error) {
					return newSem(t, cli, "sem", 2, lock.WithTTL(time.Second)).Acquire
				})
			if !broken {
				require.Empty(t, violations)
				return
			}
			require.NotEmpty(t, violations, "the check missed three live holds of a semaphore of 2")
			require.Contains(t, violations[0], "3 holds live")
			t.Logf("caught, as it should: %v", violations)
		})
	}
}
