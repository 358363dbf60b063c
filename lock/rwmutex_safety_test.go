package lock_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
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

// Six holders of a reader/writer lock on a three-member cluster, two
// writers (one of them paused past its TTL) and four readers, under the
// seed's fault schedule: no writer ever beside anyone, writers' tokens
// increasing, and their fenced writes to external storage never from a
// superseded writer.
func TestRWMutexSafetyUnderFaults(t *testing.T) {
	t.Parallel()
	run := soak.Start(t, 8*time.Second)
	c := coordtest.NewCluster(t, 3)
	hs := &holders{store: safety.NewStore(true)}
	stop, stopHolders := context.WithCancel(context.Background())
	defer stopHolders()
	const ttl = 2 * time.Second

	var wg sync.WaitGroup
	for i := range pins {
		rw, err := lock.NewRWMutex(pinnedClient(c, i), "rw", lock.WithTTL(ttl))
		require.NoError(t, err)
		t.Cleanup(func() { _ = rw.Close(context.Background()) })
		hd := holder{who: who(i), acquire: rw.RLock}
		if i%3 == 2 { // holders 2 (paused) and 5 write
			hd.exclusive, hd.acquire = true, rw.Lock
		}
		if pins[i] == pausedMember {
			hd.pause = hs.pauseOn(t, c.Member(pausedMember).Link())
		}
		g := rand.New(rand.NewPCG(uint64(run.Rand.Int64()), uint64(i)))
		wg.Go(func() { hs.loop(stop, hd, ttl, g) })
	}
	applied := run.Inject(context.Background(), c, recipeFaults(run, c))
	awaitProgress(t, "a write and a shared read hold", func() bool {
		return len(hs.store.Writes()) > 0 && hs.holds.MaxLive() > 1
	})
	stopHolders()
	wg.Wait()
	hs.logErrors(t)
	require.Positive(t, applied, "no fault was injected; raise %s", soak.EnvDuration)
	require.Positive(t, len(hs.store.Writes()), "no writer wrote")
	require.Greater(t, hs.holds.MaxLive(), 1, "readers never shared the lock")
	require.Empty(t, append(hs.holds.Check(len(pins)), hs.store.Check()...))
}

// The negative control: a writer is paused past its TTL, another writer
// takes the lock and writes, then the paused one resumes and writes with
// its old token. A broken writer that ignores its loss, writing to storage
// that ignores tokens, must be caught twice (beside the next writer, and a
// lost update); the real one is refused by the fenced storage.
func TestRWMutexNegativeControl(t *testing.T) {
	for _, broken := range []bool{true, false} {
		t.Run("broken="+strconv.FormatBool(broken), func(t *testing.T) {
			t.Parallel()
			violations, refused := pausedHolderControl(t, broken, 1, true,
				func(t *testing.T, cli *clientv3.Client) func(context.Context) (*lock.Held, error) {
					rw, err := lock.NewRWMutex(cli, "rw", lock.WithTTL(time.Second))
					require.NoError(t, err)
					t.Cleanup(func() { _ = rw.Close(context.Background()) })
					return rw.Lock
				})
			if !broken {
				require.Empty(t, violations)
				require.Positive(t, refused, "the paused writer's late write was refused")
				return
			}
			joined := strings.Join(violations, "\n")
			require.Contains(t, joined, "beside exclusive", "the check missed a writer beside another")
			require.Contains(t, joined, "lost update: A", "the store check missed the late write")
			t.Logf("caught, as it should: %v", violations)
		})
	}
}
