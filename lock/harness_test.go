package lock_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/safety"
	"github.com/coordkit/coordkit/lock"
)

// The harness: workers increment a counter in etcd under a lock, recording
// every hold, and check records what a correct lock must guarantee.
//
// Each increment reads the counter and writes counter+1 together with a
// key writes/<token>, in one txn (fenced on the hold, or not); it also
// increments a counter in external storage (safety.Store), reading and
// writing with the hold's token, fenced or not. Afterwards:
//
//   - the counter equals the number of writes/ keys (no lost or doubled
//     update), which is at least the increments workers saw succeed and at
//     most that plus those whose outcome was unknown;
//   - write tokens, in commit order, strictly increase;
//   - the external store saw no write with a superseded token and no lost
//     update;
//   - no two holds overlap, a hold lasting from Lock's return to the
//     earlier of the call to Unlock and its Done signal, and hold tokens,
//     in acquisition order, strictly increase.

const (
	counterKey = "counter"
	writesPfx  = "writes/"
)

type harness struct {
	name    string
	fenced  bool
	members int // workers use member w % members, for fault accounting

	holds safety.Holds
	store *safety.Store
	// stop, once cancelled, ends workers started with no iteration count,
	// and their pending Lock.
	stop context.Context

	unknown  atomic.Int64 // writes whose outcome is unknown
	notHeld  atomic.Int64 // fenced writes refused
	progress atomic.Int64 // increments known to be applied
	stale    atomic.Int64 // external writes refused for a stale token
	faults   []atomic.Int64
	errs     sync.Map // a sample of errors, by text
	state    sync.Map // worker → what it is doing, for failure reports
}

func (hr *harness) at(w int, what string) {
	hr.state.Store(w, time.Now().Format("15:04:05.000")+" "+what)
}

// dump reports what every worker was last doing.
func (hr *harness) dump(t *testing.T) {
	hr.state.Range(func(k, v any) bool {
		t.Logf("worker %v: %v", k, v)
		return true
	})
	t.Logf("faults per member %v", hr.faultCounts())
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "lock_test.(*harness).worker") {
			t.Logf("%s", g)
		}
	}
}

func newHarness(name string, fenced bool, members int) *harness {
	return &harness{name: name, fenced: fenced, members: members, faults: make([]atomic.Int64, members),
		store: safety.NewStore(fenced), stop: context.Background()}
}

func (hr *harness) fault(w int, err error) {
	hr.faults[w%hr.members].Add(1) // workers 6 and 7 use every member: counted as 0 and 1
	hr.errs.LoadOrStore(err.Error(), w)
}

// worker makes iters increments, or as many as it can until hr.stop ends
// if iters is 0. pause, if set, runs between the read and the write of
// each increment.
func (hr *harness) worker(ctx context.Context, w int, cli *clientv3.Client, iters int, ttl time.Duration,
	pause func(iter int, h *lock.Held)) error {
	m, err := lock.NewMutex(cli, hr.name, lock.WithTTL(ttl))
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Close(cctx)
	}()
	for done := 0; iters == 0 || done < iters; {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("worker %d after %d increments: %w", w, done, err)
		}
		if iters == 0 && hr.stop.Err() != nil {
			return nil
		}
		hr.at(w, fmt.Sprintf("locking (%d done)", done))
		// Bound each attempt, as an application would: a Lock on a member
		// that cannot reach its cluster waits (etcd's client retries a
		// lease grant on "request timed out") until its context ends.
		lctx, cancel := context.WithTimeout(hr.stop, 4*ttl)
		if iters > 0 {
			lctx, cancel = context.WithTimeout(ctx, 4*ttl)
		}
		h, err := m.Lock(lctx)
		cancel()
		if err != nil {
			hr.at(w, "lock failed: "+err.Error())
			hr.fault(w, err)
			select { // pace retries while etcd is unreachable
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		start := time.Now()
		lost := make(chan time.Time, 1)
		stop := context.AfterFunc(h.Context(), func() { lost <- time.Now() })

		hr.at(w, fmt.Sprintf("incrementing with token %d", h.Token()))
		ok := hr.increment(ctx, w, cli, h, done, pause)
		hr.at(w, fmt.Sprintf("unlocking token %d (incremented: %v)", h.Token(), ok))

		end := time.Now()
		if !stop() {
			if t := <-lost; t.Before(end) {
				end = t
				hr.fault(w, h.Err())
			}
		}
		hr.holds.Add(safety.Hold{Who: fmt.Sprint("worker ", w), Token: h.Token(), Exclusive: true, Start: start, End: end})
		uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := h.Unlock(uctx); err != nil {
			hr.fault(w, err) // the handle retries it at its next Lock
		}
		cancel()
		if ok {
			done++
			hr.progress.Add(1)
		}
	}
	return nil
}

// increment reads the counter and writes it plus one; it reports whether
// the write is known to be applied.
func (hr *harness) increment(ctx context.Context, w int, cli *clientv3.Client, h *lock.Held, iter int, pause func(int, *lock.Held)) bool {
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Get(octx, counterKey)
	if err != nil {
		hr.fault(w, err)
		return false
	}
	v := int64(0)
	if len(resp.Kvs) > 0 {
		v, _ = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
	}
	ext, extErr := hr.store.Read(h.Token())
	if pause != nil {
		pause(iter, h)
	}
	if extErr == nil {
		extErr = hr.store.Increment(fmt.Sprint("worker ", w), h.Token(), ext)
	}
	if extErr != nil {
		hr.stale.Add(1)
		hr.fault(w, extErr)
	}
	ops := []clientv3.Op{
		clientv3.OpPut(counterKey, strconv.FormatInt(v+1, 10)),
		clientv3.OpPut(fmt.Sprintf("%s%016d", writesPfx, h.Token()), strconv.Itoa(w)),
	}
	octx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if hr.fenced {
		_, err = h.Do(octx, ops...)
	} else {
		_, err = cli.Txn(octx).Then(ops...).Commit()
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, lock.ErrNotHeld):
		hr.notHeld.Add(1)
		hr.fault(w, err)
		return false
	default:
		hr.unknown.Add(1)
		hr.fault(w, err)
		return false
	}
}

// check returns every violation of the guarantees above; applied is the
// number of increments workers saw succeed.
func (hr *harness) check(t *testing.T, cli *clientv3.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var out []string
	resp, err := cli.Get(ctx, counterKey)
	require.NoError(t, err)
	counter := int64(0)
	if len(resp.Kvs) > 0 {
		counter, _ = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
	}
	writes, err := cli.Get(ctx, writesPfx, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	require.NoError(t, err)
	applied, known, unknown := int64(len(writes.Kvs)), hr.progress.Load(), hr.unknown.Load()
	if counter != applied {
		out = append(out, fmt.Sprintf("lost or doubled update: counter is %d after %d applied increments", counter, applied))
	}
	if applied < known || applied > known+unknown {
		out = append(out, fmt.Sprintf("%d increments applied; workers saw %d succeed and %d with unknown outcome", applied, known, unknown))
	}
	var last int64
	for _, kv := range writes.Kvs {
		tok, _ := strconv.ParseInt(string(kv.Key[len(writesPfx):]), 10, 64)
		if tok <= last {
			out = append(out, fmt.Sprintf("write with token %d committed after one with token %d", tok, last))
		}
		last = tok
	}

	out = append(out, hr.store.Check()...)
	out = append(out, hr.holds.Check(1)...)
	return out
}

func (hr *harness) logErrors(t *testing.T) {
	n := 0
	hr.errs.Range(func(k, v any) bool {
		if n < 15 {
			t.Logf("worker %v saw: %v", v, k)
		}
		n++
		return true
	})
	t.Logf("%d distinct errors; faults per member %v; %d holds, %d unknown outcomes", n, hr.faultCounts(), hr.holds.Len(), hr.unknown.Load())
}

func (hr *harness) faultCounts() []int64 {
	out := make([]int64, len(hr.faults))
	for i := range hr.faults {
		out[i] = hr.faults[i].Load()
	}
	return out
}

// awaitProgress waits, once the faults are over, until cond holds: the
// workload must make progress on a healthy cluster, however little a loaded
// machine let it make during the faults. Two minutes is a hang guard, not
// a timing bound.
func awaitProgress(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no progress after the faults ended: still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
