package election_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/internal/safety"
	"github.com/coordkit/coordkit/internal/soak"
)

// history checks, at the moment each term starts, that no earlier term's
// Context is still live, and that Revs strictly increase. It also records
// every term as a hold, from its election to the earlier of its Resign and
// the end of its Context (safety.Holds: no two live at once), and leaders
// increment a counter in external storage with their Token as fencing token
// (safety.Store: no write from a superseded leader).
type history struct {
	mu         sync.Mutex
	live       []*election.Term
	revs       []int64
	violations []string
	progress   chan struct{}
	churn      atomic.Bool
	holds      safety.Holds
	store      *safety.Store
}

func newHistory() *history {
	return &history{progress: make(chan struct{}, 1), store: safety.NewStore(true)}
}

func (h *history) elected(who string, term *election.Term) {
	h.mu.Lock()
	defer h.mu.Unlock()
	live := h.live[:0]
	for _, other := range h.live {
		if other.Context().Err() == nil {
			live = append(live, other)
			h.violations = append(h.violations, fmt.Sprintf("%s elected with rev %d while rev %d still leads", who, term.Token(), other.Token()))
		}
	}
	h.live = append(live, term)
	if n := len(h.revs); n > 0 && term.Token() <= h.revs[n-1] {
		h.violations = append(h.violations, fmt.Sprintf("%s elected with rev %d after rev %d", who, term.Token(), h.revs[n-1]))
	}
	h.revs = append(h.revs, term.Token())
	select {
	case h.progress <- struct{}{}:
	default:
	}
}

func (h *history) elections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.revs)
}

// waitElections waits until there have been n elections in all.
func (h *history) waitElections(t *testing.T, n int, phase string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for h.elections() < n {
		select {
		case <-h.progress:
		case <-deadline:
			t.Fatalf("%s: %d elections, want %d", phase, h.elections(), n)
		}
	}
}

// hold leads until the term ends, writing to the external store every
// tick, and resigning after a moment while churn is on so that leadership
// keeps moving.
func (h *history) hold(ctx context.Context, who string, term *election.Term) {
	start := time.Now()
	lost := make(chan time.Time, 1)
	stopLost := context.AfterFunc(term.Context(), func() { lost <- time.Now() })
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-term.Done():
			done = true
		case <-ctx.Done():
			done = true
		case <-tick.C:
			if v, err := h.store.Read(term.Token()); err == nil {
				_ = h.store.Increment(who, term.Token(), v) // refused if superseded
			}
			done = h.churn.Load()
		}
	}
	end := time.Now()
	if !stopLost() {
		if at := <-lost; at.Before(end) {
			end = at
		}
	}
	h.holds.Add(safety.Hold{Who: who, Token: term.Token(), Exclusive: true, Start: start, End: end})
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = term.Resign(rctx)
}

// leader returns the candidate number and term of the live leader, once
// there is one.
func (h *history) leader(t *testing.T) (int, *election.Term) {
	t.Helper()
	var who int
	var term *election.Term
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if n := len(h.live); n > 0 && h.live[n-1].Err() == nil {
			term = h.live[n-1]
			_, err := fmt.Sscanf(term.Value(), "candidate %d", &who)
			return err == nil
		}
		return false
	}, 30*time.Second, 5*time.Millisecond)
	return who, term
}

// Five candidates with 2 s leases, some through the whole cluster, some
// pinned to one member: never two leaders at once by their Context
// signals, terms strictly increasing, and no write to fenced external
// storage from a superseded leader, while
//   - leadership churns under the seed's fault schedule (members killed,
//     the raft leader among them, partitioned, their links blackholed,
//     dropped and delayed);
//   - leaders hold on, and the member a leader's client is pinned to is cut
//     off by a partition or killed, so the next leader is elected only
//     when the old one's lease expires.
func TestChaosNeverTwoLeaders(t *testing.T) {
	t.Parallel()
	run := soak.Start(t, 6*time.Second)
	c := coordtest.NewCluster(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHistory()
	h.churn.Store(true)
	opts := []election.Option{election.WithTTL(2 * time.Second), election.WithLogger(slog.New(slog.DiscardHandler))}
	runOpts := make([]election.RunnerOption, len(opts)) // every Option is a RunnerOption
	for i, o := range opts {
		runOpts[i] = o
	}

	var wg sync.WaitGroup
	// Candidates 0-2 use Run; 3 and 4 loop on Campaign. 0 and 3 use the
	// cluster-wide client; the others are pinned to one member each.
	pinned := []int{-1, 0, 1, -1, 2}
	for i, m := range pinned {
		cli := c.Client()
		if m >= 0 {
			cli = c.Member(m).Client()
		}
		who := fmt.Sprint("candidate ", i)
		if i < 3 {
			wg.Go(func() {
				_ = election.Run(ctx, cli, "chaos", who, election.Callbacks{
					OnElected: func(tctx context.Context, term *election.Term) {
						h.elected(who, term)
						h.hold(tctx, who, term)
					},
				}, runOpts...)
			})
			continue
		}
		e := newElection(t, cli, "chaos", opts...)
		wg.Go(func() {
			for ctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				term, err := e.Campaign(cctx, who)
				ccancel()
				if err != nil {
					pause := time.NewTimer(50 * time.Millisecond)
					select {
					case <-ctx.Done():
					case <-pause.C:
					}
					pause.Stop()
					continue
				}
				h.elected(who, term)
				h.hold(ctx, who, term)
			}
		})
	}

	h.waitElections(t, 5, "steady")
	applied := run.Inject(ctx, c, run.Schedule(c.Size(), soak.DefaultTiming))
	require.Positive(t, applied, "no fault was injected; raise %s", soak.EnvDuration)
	h.waitElections(t, h.elections()+3, "after the fault schedule")

	h.churn.Store(false)
	for faults := 0; faults < 3; {
		who, term := h.leader(t)
		if pinned[who] < 0 {
			// Leading through every member: let someone else lead.
			_ = term.Resign(ctx)
			continue
		}
		m := c.Member(pinned[who])
		n := h.elections()
		if faults%2 == 0 {
			t.Logf("candidate %d leads through %s: partitioning it", who, m)
			c.Partition(pinned[who])
			h.waitElections(t, n+1, "leader's member partitioned")
			c.Heal()
		} else {
			t.Logf("candidate %d leads through %s: killing it", who, m)
			m.Kill()
			h.waitElections(t, n+1, "leader's member killed")
			m.Restart()
		}
		require.ErrorIs(t, term.Err(), election.ErrLost)
		faults++
	}
	h.churn.Store(true)
	h.waitElections(t, h.elections()+3, "healed")

	cancel()
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Empty(t, h.violations)
	require.Empty(t, h.holds.Check(1))
	require.Empty(t, h.store.Check())
	t.Logf("%d terms; %d fenced writes, %d refused", len(h.revs), len(h.store.Writes()), h.store.Refused())
}

// The negative control: a leader is cut off past its TTL, another is
// elected and writes, then the old one resumes and writes with its old
// Token. A broken leader that ignores its term's end, writing to storage
// that ignores tokens, must be caught twice (two live terms, and a lost
// update); the real one stops leading in time and is refused by the fenced
// storage.
func TestChaosNegativeControl(t *testing.T) {
	for _, broken := range []bool{true, false} {
		t.Run("broken="+strconv.FormatBool(broken), func(t *testing.T) {
			t.Parallel()
			n := coordtest.NewNode(t)
			link := n.NewLink(t)
			store := safety.NewStore(!broken)
			var holds safety.Holds
			opts := []election.Option{election.WithTTL(time.Second), election.WithLogger(slog.New(slog.DiscardHandler))}

			a := campaign(t, newElection(t, link.Client(), "control", opts...), "a")
			aStart := time.Now()
			lostAt := make(chan time.Time, 1)
			context.AfterFunc(a.Context(), func() { lostAt <- time.Now() })
			aRead, err := store.Read(a.Token())
			require.NoError(t, err)
			// Cut a off, with b campaigning meanwhile: b must not be
			// elected before a is told its term ended.
			eb := newElection(t, n.Client(), "control", opts...)
			link.Blackhole()
			type elected struct {
				term *election.Term
				at   time.Time
				err  error
			}
			bDone := make(chan elected, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				term, err := eb.Campaign(ctx, "b")
				bDone <- elected{term, time.Now(), err}
			}()
			aLost := recv(t, lostAt)
			be := recv(t, bDone)
			require.NoError(t, be.err)
			b, bStart := be.term, be.at
			t.Cleanup(func() { _ = b.Resign(context.Background()) })
			v, err := store.Read(b.Token())
			require.NoError(t, err)
			require.NoError(t, store.Increment("b", b.Token(), v))
			link.Unblackhole()
			_ = store.Increment("a", a.Token(), aRead) // refused when fenced

			aEnd := aLost
			if broken {
				aEnd = time.Now() // it never noticed
			}
			holds.Add(safety.Hold{Who: "a", Token: a.Token(), Exclusive: true, Start: aStart, End: aEnd})
			holds.Add(safety.Hold{Who: "b", Token: b.Token(), Exclusive: true, Start: bStart, End: time.Now()})
			violations := append(holds.Check(1), store.Check()...)
			if !broken {
				require.Empty(t, violations)
				require.Positive(t, store.Refused(), "the old leader's late write was refused")
				return
			}
			joined := strings.Join(violations, "\n")
			require.Contains(t, joined, "exclusive b", "the check missed two live terms")
			require.Contains(t, joined, "lost update: a", "the store check missed the old leader's write")
			t.Logf("caught, as it should: %v", violations)
		})
	}
}
