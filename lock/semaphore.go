package lock

import (
	"context"
	"math"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/waitqueue"
)

// Semaphore lets up to n owners hold it at once; the rest queue, first come
// first served (by create revision).
//
// The limit is stored in etcd, at LimitKey, by the first acquisition and
// compared on every acquisition and every check while waiting, in the same
// transaction: a process configured with another n gets ErrLimitMismatch
// instead of letting more than n in. The limit key has no lease and
// outlives the holders; delete it while nobody holds the semaphore to
// change n.
//
// Holder keys live under name + "/holders/", one per acquisition, so
// goroutines sharing a handle can hold several slots. A Semaphore is safe
// for concurrent use; Close it when done.
type Semaphore struct {
	name     string
	n        int
	limitKey string
	s        *session
	q        *queue
}

// NewSemaphore returns a handle on the semaphore called name admitting n
// holders. Options are those of NewMutex.
func NewSemaphore(cli *clientv3.Client, name string, n int, opts ...Option) (*Semaphore, error) {
	o, err := buildOptions("new semaphore", cli, name, opts)
	if err != nil {
		return nil, err
	}
	if n < 1 || int64(n) > math.MaxInt32 {
		return nil, errorf("new semaphore", name, "%w: %w: got %d", ErrInvalidArgument, ErrInvalidLimit, n)
	}
	s := newSession(cli, name, o)
	holders := name + "/holders/"
	sem := &Semaphore{name: name, n: n, limitKey: name + "/limit", s: s}
	want := strconv.Itoa(n)
	sem.q = (&queue{
		s:   s,
		key: func(id clientv3.LeaseID) string { return randomKey(holders, id) },
		blockers: func(maxRev int64) clientv3.Op {
			// The first n keys ahead: fewer than n means a free slot.
			opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly(),
				clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(int64(n))}
			if maxRev > 0 {
				opts = append(opts, clientv3.WithMaxCreateRev(maxRev))
			}
			return clientv3.OpGet(holders, opts...)
		},
		turn: func(r *pb.RangeResponse) (bool, waitqueue.Target) {
			if len(r.Kvs) < n {
				return true, waitqueue.Target{}
			}
			// Any holder ahead leaving may free a slot.
			return false, waitqueue.Target{Key: holders, Prefix: true}
		},
		conds:    []clientv3.Cmp{clientv3.Compare(clientv3.Value(sem.limitKey), "=", want)},
		condOps:  []clientv3.Op{clientv3.OpGet(sem.limitKey)},
		rejected: sem.rejected,
	}).init()
	return sem, nil
}

// rejected explains a failed limit comparison. A missing limit is written
// (if still missing) and the caller retries; another limit is an error.
func (sem *Semaphore) rejected(ctx context.Context, resps []*pb.ResponseOp) (bool, error) {
	kvs := resps[0].GetResponseRange().Kvs
	want := strconv.Itoa(sem.n)
	switch {
	case len(kvs) == 0:
		_, err := sem.s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(sem.limitKey), "=", 0)).
			Then(clientv3.OpPut(sem.limitKey, want)).Commit()
		if err != nil {
			return true, errorf("acquire", sem.name, "storing limit %d at %s: %w", sem.n, sem.limitKey, err)
		}
		return true, nil
	case string(kvs[0].Value) != want:
		return true, errorf("acquire", sem.name, "%w: etcd has limit %q at %s, this handle was made with %d; make every process use the same limit, or delete %s while nobody holds the semaphore",
			ErrLimitMismatch, kvs[0].Value, sem.limitKey, sem.n, sem.limitKey)
	}
	return false, nil
}

// Name is the semaphore's name.
func (sem *Semaphore) Name() string { return sem.name }

// Limit is the number of holders this handle admits.
func (sem *Semaphore) Limit() int { return sem.n }

// LimitKey is the etcd key storing the limit.
func (sem *Semaphore) LimitKey() string { return sem.limitKey }

// Acquire waits until this caller holds one of the n slots. Errors are
// those of Mutex.Lock, plus ErrLimitMismatch.
func (sem *Semaphore) Acquire(ctx context.Context) (*Held, error) { return sem.q.acquire(ctx, false) }

// TryAcquire takes a slot if one is free and nobody queues ahead, and
// returns ErrLocked otherwise.
func (sem *Semaphore) TryAcquire(ctx context.Context) (*Held, error) { return sem.q.acquire(ctx, true) }

// Close revokes the handle's own lease, releasing its holds, and makes
// further acquisitions fail with ErrClosed; see Mutex.Close.
func (sem *Semaphore) Close(ctx context.Context) error { return sem.s.close(ctx) }
