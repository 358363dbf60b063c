package kv

import (
	"github.com/coordkit/coordkit/internal/etcderr"

	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Batcher is the store's coalescing writer: Puts and Deletes from many
// goroutines are merged into shared txns, so a busy writer pays for one raft
// entry and one fsync per batch rather than per write. Each call still gets
// its own result. Create one with Store.Batcher; it is safe for concurrent
// use. Its goroutines exist only while writes are pending; Close it when done.
//
// Guarantees:
//   - Two writes to one key never share a txn, and run in the order they
//     were submitted: the later one waits for the next batch.
//   - A txn etcd rejects because of one of its operations (a lease that
//     expired or was revoked, a request over the size limit, a permission)
//     is split, and its parts retried, until the culprits are alone and fail
//     with their own error; the other writes succeed.
//   - A txn whose outcome is unknown (timeout, lost connection) is never
//     re-sent: each of its callers gets ErrUnknownOutcome.
type Batcher[T any] struct {
	s           *Store[T]
	maxOps      int
	maxInFlight int
	timeout     time.Duration

	mu         sync.Mutex
	pending    []*batchOp
	inflight   map[string]struct{} // keys in a batch being sent
	senders    int
	closed     bool
	want       int           // queue length a waiting sender wants (0: none waits)
	refilled   chan struct{} // signals a waiting sender that want is reached
	pipelineAt int           // queue length worth a second txn in flight
	idle       chan struct{} // closed once closed and no sender is left
}

// BatcherOption configures a Batcher.
type BatcherOption func(*batcherOptions)

type batcherOptions struct {
	maxOps, maxInFlight int
	timeout             time.Duration
	err                 error
}

// DefaultMaxBatch is the most operations a Batcher puts in one txn: etcd's
// default --max-txn-ops.
const DefaultMaxBatch = 128

// WithMaxBatch sets the most operations per txn (default 128, etcd's default
// --max-txn-ops; a server with a lower limit makes the Batcher split).
func WithMaxBatch(n int) BatcherOption {
	return func(o *batcherOptions) {
		if n < 1 {
			o.err = fmt.Errorf("kv: WithMaxBatch(%d): %w: want at least 1", n, ErrInvalidArgument)
			return
		}
		o.maxOps = n
	}
}

// WithMaxInFlight sets how many txns a Batcher has outstanding at once
// (default 2). Writes queue while txns are in flight; a further txn is sent
// alongside only when at least half a batch is queued, so the extra
// concurrency never costs batch size.
func WithMaxInFlight(n int) BatcherOption {
	return func(o *batcherOptions) {
		if n < 1 {
			o.err = fmt.Errorf("kv: WithMaxInFlight(%d): %w: want at least 1", n, ErrInvalidArgument)
			return
		}
		o.maxInFlight = n
	}
}

// WithTxnTimeout bounds each txn the Batcher sends (default 5 s). A txn that
// times out fails its writes with ErrUnknownOutcome.
func WithTxnTimeout(d time.Duration) BatcherOption {
	return func(o *batcherOptions) {
		if d <= 0 {
			o.err = fmt.Errorf("kv: WithTxnTimeout(%v): %w: want a positive duration", d, ErrInvalidArgument)
			return
		}
		o.timeout = d
	}
}

// Batcher returns a new coalescing writer for the store.
func (s *Store[T]) Batcher(opts ...BatcherOption) (*Batcher[T], error) {
	o := batcherOptions{maxOps: DefaultMaxBatch, maxInFlight: 2, timeout: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	return &Batcher[T]{
		s: s, maxOps: o.maxOps, maxInFlight: o.maxInFlight, timeout: o.timeout,
		inflight: make(map[string]struct{}), idle: make(chan struct{}), refilled: make(chan struct{}, 1),
		pipelineAt: max(1, o.maxOps/2),
	}, nil
}

// Op states: a caller may withdraw its op only while it is still queued.
const (
	opQueued int32 = iota
	opTaken
	opWithdrawn
)

type batchOp struct {
	key   string // full etcd key
	put   bool
	data  string
	lease clientv3.LeaseID
	state atomic.Int32
	res   chan batchResult // buffered: the sender never blocks
}

type batchResult struct {
	rev     int64
	deleted bool
	err     error
}

func (op *batchOp) verb() string {
	if op.put {
		return "batched put"
	}
	return "batched delete"
}

// size is the op's share of a txn request.
func (op *batchOp) size() int { return len(op.key) + len(op.data) + opOverhead }

// Put stores v under key in the next batch and returns the revision of that
// batch's txn. Errors are those of Store.Put, plus ErrClosed.
func (b *Batcher[T]) Put(ctx context.Context, key string, v T, opts ...PutOption) (int64, error) {
	full, data, po, err := b.s.prepare("batched put", key, v, 1, opts)
	if err != nil {
		return 0, err
	}
	r := b.do(ctx, &batchOp{key: full, put: true, data: data, lease: po.lease})
	return r.rev, r.err
}

// Delete removes key in the next batch, reporting whether it existed and the
// revision of that batch's txn.
func (b *Batcher[T]) Delete(ctx context.Context, key string) (existed bool, rev int64, err error) {
	if err := b.s.o.checkKey("batched delete", b.s.prefix, key); err != nil {
		return false, 0, err
	}
	r := b.do(ctx, &batchOp{key: b.s.prefix + key})
	return r.deleted, r.rev, r.err
}

// Close stops accepting writes (they fail with ErrClosed), waits for the
// queued ones to be sent and answered, and returns. It is idempotent.
func (b *Batcher[T]) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		if b.senders == 0 {
			close(b.idle)
		}
	}
	b.mu.Unlock()
	<-b.idle
}

func (b *Batcher[T]) do(ctx context.Context, op *batchOp) batchResult {
	if err := unsent(ctx, b.s.cli, op.verb(), op.key); err != nil {
		return batchResult{err: err}
	}
	op.res = make(chan batchResult, 1)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return batchResult{err: fmt.Errorf("kv: %s %q: %w", op.verb(), op.key, ErrClosed)}
	}
	b.pending = append(b.pending, op)
	switch {
	case b.want > 0 && len(b.pending) >= b.want:
		b.want = 0
		select {
		case b.refilled <- struct{}{}:
		default:
		}
	case b.senders == 0 || (b.senders < b.maxInFlight && len(b.pending) >= b.pipelineAt):
		b.senders++
		go b.send()
	}
	b.mu.Unlock()

	select {
	case r := <-op.res:
		return r
	case <-ctx.Done():
	}
	if op.state.CompareAndSwap(opQueued, opWithdrawn) {
		return batchResult{err: notSent(op.verb(), op.key, ctx)}
	}
	select {
	case r := <-op.res:
		return r
	default:
		return batchResult{err: fmt.Errorf("kv: %s %q: %w: %w; its batch was sent, read the key to learn whether it applied",
			op.verb(), op.key, ErrUnknownOutcome, context.Cause(ctx))}
	}
}

// refillWait bounds how long a sender waits, after a txn, for the callers it
// just answered to submit their next writes.
const refillWait = 200 * time.Microsecond

// send is a sender goroutine: it sends batches until none is worth sending.
//
// Two rules keep batches full. After a txn, the callers it answered usually
// write again at once (closed-loop writers), but are not queued yet: the
// sender waits (at most refillWait) until as many writes are queued as it
// just answered, so they share the next txn rather than trickle out in small
// ones. And a second sender only pipelines a txn of at least half a batch;
// smaller remainders wait for the sender already at work.
func (b *Batcher[T]) send() {
	b.mu.Lock()
	answered := 0
	for {
		if answered > 0 && len(b.pending) < answered && !b.closed {
			b.awaitRefill(answered)
		}
		if b.senders > 1 && len(b.pending) < b.pipelineAt {
			break // the other sender will take these, in a fuller batch
		}
		batch := b.take()
		if len(batch) == 0 {
			break
		}
		b.mu.Unlock()
		b.commit(batch)
		b.mu.Lock()
		for _, op := range batch {
			delete(b.inflight, op.key)
		}
		answered = len(batch)
	}
	b.senders--
	if b.senders == 0 && b.closed {
		close(b.idle)
	}
	b.mu.Unlock()
}

// awaitRefill waits until n writes are queued, or refillWait passes. Called
// with b.mu held; releases it while waiting.
func (b *Batcher[T]) awaitRefill(n int) {
	b.want = n
	b.mu.Unlock()
	t := time.NewTimer(refillWait)
	select {
	case <-b.refilled:
	case <-t.C:
	}
	t.Stop()
	b.mu.Lock()
	b.want = 0
	select {
	case <-b.refilled: // a signal sent after the timer fired
	default:
	}
}

// take removes the next batch from the queue, oldest first: ops whose key is
// already in a batch stay queued, in order. Called with b.mu held.
func (b *Batcher[T]) take() []*batchOp {
	var batch []*batchOp
	budget := b.s.o.maxRequestBytes - requestOverhead
	rest := b.pending[:0]
	for i, op := range b.pending {
		if len(batch) == b.maxOps {
			rest = append(rest, b.pending[i:]...)
			break
		}
		if _, busy := b.inflight[op.key]; busy {
			rest = append(rest, op)
			continue
		}
		if len(batch) > 0 && op.size() > budget {
			rest = append(rest, b.pending[i:]...)
			break
		}
		if !op.state.CompareAndSwap(opQueued, opTaken) {
			continue // withdrawn by its caller
		}
		b.inflight[op.key] = struct{}{}
		batch = append(batch, op)
		budget -= op.size()
	}
	clear(b.pending[len(rest):])
	b.pending = rest
	return batch
}

// commit sends ops as one txn and answers their callers. If etcd rejects the
// txn because of some operation in it, the ops are split and the parts sent
// again (a rejected txn applied nothing, so this is safe) until each culprit
// fails alone.
func (b *Batcher[T]) commit(ops []*batchOp) {
	txnOps := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		if op.put {
			var opts []clientv3.OpOption
			if op.lease != 0 {
				opts = []clientv3.OpOption{clientv3.WithLease(op.lease)}
			}
			txnOps[i] = clientv3.OpPut(op.key, op.data, opts...)
		} else {
			txnOps[i] = clientv3.OpDelete(op.key)
		}
	}
	// A client closed while the ops were queued: not sent, not applied.
	var resp *clientv3.TxnResponse
	var sent time.Time
	err := etcderr.ClientClosed(b.s.cli)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		if b.s.o.metrics != nil {
			sent = time.Now()
		}
		resp, err = b.s.cli.Txn(requireLeader(ctx)).Then(txnOps...).Commit()
		cancel()
	}
	if err == nil {
		if m := b.s.o.metrics; m != nil {
			m.committed(len(ops), sent)
		}
		for i, op := range ops {
			r := batchResult{rev: resp.Header.Revision}
			if !op.put {
				r.deleted = resp.Responses[i].GetResponseDeleteRange().GetDeleted() > 0
			}
			op.res <- r
		}
		return
	}
	if len(ops) > 1 && etcderr.RejectedByOp(err) {
		if parts := split(ops, err); parts != nil {
			for _, part := range parts {
				b.commit(part)
			}
			return
		}
	}
	for _, op := range ops {
		op.res <- batchResult{err: writeErr(op.verb(), op.key, err)}
	}
}

// split divides a rejected batch: by lease when a lease was missing (the ops
// of the missing lease then fail together, the others go through), else in
// halves. It returns nil when the ops all share the missing lease: they fail
// together.
func split(ops []*batchOp, err error) [][]*batchOp {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		var groups [][]*batchOp
		index := map[clientv3.LeaseID]int{}
		for _, op := range ops {
			i, ok := index[op.lease]
			if !ok {
				i = len(groups)
				index[op.lease] = i
				groups = append(groups, nil)
			}
			groups[i] = append(groups[i], op)
		}
		if len(groups) > 1 {
			return groups
		}
		if ops[0].lease != 0 {
			return nil
		}
	}
	mid := len(ops) / 2
	return [][]*batchOp{ops[:mid], ops[mid:]}
}
