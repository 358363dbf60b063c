package lock_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/safety"
	"github.com/coordkit/coordkit/lock"
)

// holders runs semaphore and reader/writer lock holders in loops and
// records their holds (safety.Holds) and their writers' fenced writes to
// external storage (safety.Store).
type holders struct {
	holds    safety.Holds
	store    *safety.Store
	acquired atomic.Int64 // acquisitions so far
	errs     sync.Map     // a sample of errors, by text
}

// holder is one goroutine's way to take the lock: acquire returns a hold,
// exclusive says whether it must be alone (and writes to the store).
type holder struct {
	who       string
	exclusive bool
	acquire   func(context.Context) (*lock.Held, error)
	// pause, if set, runs inside the first hold, before its work.
	pause func(*lock.Held)
	// ignoreLoss makes a broken holder, for negative controls: it believes
	// it holds until it unlocks, whatever Done says.
	ignoreLoss bool
}

// loop acquires and releases until stop ends, holding each time for a few
// milliseconds (drawn from g) and, if exclusive, incrementing the store.
func (hs *holders) loop(stop context.Context, hd holder, ttl time.Duration, g *rand.Rand) {
	paused := hd.pause == nil
	for stop.Err() == nil {
		lctx, cancel := context.WithTimeout(stop, 4*ttl)
		h, err := hd.acquire(lctx)
		cancel()
		if err != nil {
			hs.errs.LoadOrStore(err.Error(), hd.who)
			select { // pace retries while etcd is unreachable
			case <-time.After(20 * time.Millisecond):
			case <-stop.Done():
			}
			continue
		}
		hs.acquired.Add(1)
		start := time.Now()
		lost := make(chan time.Time, 1)
		stopLost := context.AfterFunc(h.Context(), func() { lost <- time.Now() })
		if !paused {
			paused = true
			hd.pause(h)
		}
		if hd.exclusive {
			if v, err := hs.store.Read(h.Token()); err != nil {
				hs.errs.LoadOrStore(err.Error(), hd.who)
			} else if err := hs.store.Increment(hd.who, h.Token(), v); err != nil {
				hs.errs.LoadOrStore(err.Error(), hd.who)
			}
		}
		select { // the work under the lock
		case <-time.After(time.Duration(1+g.IntN(10)) * time.Millisecond):
		case <-h.Done():
		}
		end := time.Now()
		if !stopLost() {
			if at := <-lost; at.Before(end) && !hd.ignoreLoss {
				end = at
			}
		}
		hs.holds.Add(safety.Hold{Who: hd.who, Token: h.Token(), Exclusive: hd.exclusive, Start: start, End: end})
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := h.Unlock(uctx); err != nil {
			hs.errs.LoadOrStore(err.Error(), hd.who)
		}
		cancel()
	}
}

// pauseOn returns a pause that cuts link off until the hold is lost (past
// its TTL) and someone else has acquired since, as a GC pause or a stalled
// VM would, then resumes. With ignoreLoss its holder does not notice.
func (hs *holders) pauseOn(t *testing.T, link *coordtest.Link) func(*lock.Held) {
	return func(h *lock.Held) {
		link.Blackhole()
		defer link.Unblackhole()
		t.Logf("%s pausing %s (token %d) past its TTL", time.Now().Format("15:04:05.000"), h.Key(), h.Token())
		select {
		case <-h.Done():
		case <-time.After(within):
			t.Errorf("a hold cut off for %v was not lost", within)
			return
		}
		before := hs.acquired.Load()
		deadline := time.Now().Add(within)
		for hs.acquired.Load() == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // polling a counter, with a deadline
		}
		t.Logf("%s resuming %s: %d acquisitions meanwhile", time.Now().Format("15:04:05.000"), h.Key(), hs.acquired.Load()-before)
	}
}

func (hs *holders) logErrors(t *testing.T) {
	n := 0
	hs.errs.Range(func(k, v any) bool {
		if n < 10 {
			t.Logf("%v saw: %v", v, k)
		}
		n++
		return true
	})
	t.Logf("%d distinct errors; %d holds, at most %d live at once; %d external writes, %d refused",
		n, hs.holds.Len(), hs.holds.MaxLive(), len(hs.store.Writes()), hs.store.Refused())
}

func who(i int) string { return fmt.Sprint("holder ", i) }

// pausedHolderControl is the script of the semaphore's and the
// reader/writer lock's negative controls, on one node: holder A (through
// a link) and limit-1 others hold; A is cut off past its TTL; C acquires
// in A's place (and, if exclusive, increments the external store); A
// resumes and increments the store with its old token. With broken, A
// ignores its loss and the store ignores tokens: the checks must report
// it. It returns the violations and the store's refusals.
func pausedHolderControl(t *testing.T, broken bool, limit int, exclusive bool,
	acquirer func(t *testing.T, cli *clientv3.Client) func(context.Context) (*lock.Held, error)) ([]string, int) {
	t.Helper()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := ctxFor(t)
	store := safety.NewStore(!broken)
	var holds safety.Holds

	a, err := acquirer(t, link.Client())(ctx)
	require.NoError(t, err)
	aStart := time.Now()
	lostAt := make(chan time.Time, 1)
	context.AfterFunc(a.Context(), func() { lostAt <- time.Now() })
	aRead, err := store.Read(a.Token())
	require.NoError(t, err)
	var others []*lock.Held
	var starts []time.Time
	for range limit - 1 {
		h, err := acquirer(t, n.Client())(ctx)
		require.NoError(t, err)
		others, starts = append(others, h), append(starts, time.Now())
	}

	// Cut A off, and let C wait for its place meanwhile: C must not get
	// in before A is told it lost.
	acquireC := acquirer(t, n.Client())
	link.Blackhole()
	type acquired struct {
		h   *lock.Held
		at  time.Time
		err error
	}
	cDone := make(chan acquired, 1)
	go func() {
		h, err := acquireC(ctx)
		cDone <- acquired{h, time.Now(), err}
	}()
	var aLost time.Time
	select {
	case aLost = <-lostAt:
	case <-time.After(within):
		t.Fatalf("A, cut off, was not told it lost its hold within %v", within)
	}
	var cr acquired
	select {
	case cr = <-cDone:
	case <-time.After(within):
		t.Fatalf("C did not take A's place within %v", within)
	}
	require.NoError(t, cr.err)
	c := cr.h
	others, starts = append(others, c), append(starts, cr.at)
	if exclusive {
		v, err := store.Read(c.Token())
		require.NoError(t, err)
		require.NoError(t, store.Increment("C", c.Token(), v))
	}
	link.Unblackhole()
	if exclusive {
		_ = store.Increment("A", a.Token(), aRead) // refused when fenced
	}

	now := time.Now()
	aEnd := aLost
	if broken {
		aEnd = now // it never noticed
	}
	holds.Add(safety.Hold{Who: "A", Token: a.Token(), Exclusive: exclusive, Start: aStart, End: aEnd})
	for i, h := range others {
		holds.Add(safety.Hold{Who: fmt.Sprint("other ", i), Token: h.Token(), Exclusive: exclusive, Start: starts[i], End: now})
		require.NoError(t, h.Unlock(ctx))
	}
	require.NoError(t, a.Unlock(ctx))
	return append(holds.Check(limit), store.Check()...), store.Refused()
}
