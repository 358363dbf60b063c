package kv

import (
	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/fenced"

	"context"
	"errors"
	"fmt"
	"log/slog"
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
// use. Close it when done: Close flushes the writes already queued.
//
// Put and Delete wait for their write's result. PutAsync and DeleteAsync
// queue the write and return a Future at once, so one goroutine can keep
// many writes in flight; the queue they fill is bounded (WithMaxPending).
//
// The Batcher adapts to its load: a write that finds nothing in flight is
// sent at once, alone (a single writer pays no batching delay); under load,
// up to WithMaxInFlight txns are in flight, their number following the
// observed txn latency (it shrinks while latency grows beyond its unloaded
// level, which means the server is saturated and more txns only make them
// smaller), and a further txn goes out once the queue holds its share of the
// writes in the system.
//
// Guarantees:
//   - Two writes to one key never share a txn, and run in the order they
//     were submitted: the later one waits for the next batch.
//   - A txn etcd rejects because of one of its operations (a lease that
//     expired or was revoked, a request over the size limit, a permission)
//     is split, and its parts retried, until the culprits are alone and fail
//     with their own error; the other writes succeed.
//   - A txn whose outcome is unknown is never re-sent (see the package
//     guarantees): each of its callers gets ErrUnknownOutcome.
//   - A write whose context ends while it is still queued is withdrawn and
//     never sent (its result wraps ErrRejected, "not sent", and the
//     context's error).
type Batcher[T any] struct {
	s           *Store[T]
	maxOps      int
	maxInFlight int
	timeout     time.Duration
	slots       chan struct{} // one per queued or in-flight async write

	mu       sync.Mutex
	pending  []*batchOp
	inflight map[string]struct{} // keys in a batch being sent
	senders  int                 // txns being sent
	closed   bool
	idle     chan struct{} // closed once closed and no sender is left
	lat      latency
}

// BatcherOption configures a Batcher.
type BatcherOption func(*batcherOptions)

type batcherOptions struct {
	maxOps, maxInFlight, maxPending int
	timeout                         time.Duration
	err                             error
}

// DefaultMaxBatch is the most operations a Batcher puts in one txn: etcd's
// default --max-txn-ops.
const DefaultMaxBatch = 128

// DefaultMaxInFlight is the most txns a Batcher has outstanding at once
// unless WithMaxInFlight says otherwise.
const DefaultMaxInFlight = 16

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

// WithMaxInFlight caps how many txns a Batcher has outstanding at once
// (default DefaultMaxInFlight). Below the cap the number adapts to the
// observed txn latency; 1 sends one txn at a time.
func WithMaxInFlight(n int) BatcherOption {
	return func(o *batcherOptions) {
		if n < 1 {
			o.err = fmt.Errorf("kv: WithMaxInFlight(%d): %w: want at least 1", n, ErrInvalidArgument)
			return
		}
		o.maxInFlight = n
	}
}

// WithMaxPending bounds how many writes of PutAsync and DeleteAsync may be
// queued or in flight at once (default 32 × the batch size); beyond it they
// wait for room (or their context). Put and Delete are bounded by their
// callers and do not count.
func WithMaxPending(n int) BatcherOption {
	return func(o *batcherOptions) {
		if n < 1 {
			o.err = fmt.Errorf("kv: WithMaxPending(%d): %w: want at least 1", n, ErrInvalidArgument)
			return
		}
		o.maxPending = n
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
	o := batcherOptions{maxOps: DefaultMaxBatch, maxInFlight: DefaultMaxInFlight, timeout: 5 * time.Second}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	if o.maxPending == 0 {
		o.maxPending = 32 * o.maxOps
	}
	return &Batcher[T]{
		s: s, maxOps: o.maxOps, maxInFlight: o.maxInFlight, timeout: o.timeout,
		slots:    make(chan struct{}, o.maxPending),
		inflight: make(map[string]struct{}), idle: make(chan struct{}),
		lat: newLatency(o.maxInFlight),
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
	ctx   context.Context // the submitter's: ended while queued, the op is withdrawn
	async bool            // holds a slot of Batcher.slots until answered
	state atomic.Int32
	done  chan struct{} // closed once res is set
	res   batchResult
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

// answer sets the op's result and wakes its caller.
func (op *batchOp) answer(r batchResult) {
	op.res = r
	close(op.done)
}

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

// PutAsync queues a put of v under key and returns at once with its Future;
// it blocks only while WithMaxPending writes are outstanding. Writes of one
// key apply in the order they were queued. If ctx ends while the write is
// still queued, it is withdrawn and never sent. The Future's errors are
// those of Put.
func (b *Batcher[T]) PutAsync(ctx context.Context, key string, v T, opts ...PutOption) *Future {
	full, data, po, err := b.s.prepare("batched put", key, v, 1, opts)
	if err != nil {
		return failed(err)
	}
	return b.queue(ctx, &batchOp{key: full, put: true, data: data, lease: po.lease})
}

// DeleteAsync queues a delete of key like PutAsync; Future.Existed tells
// whether the key existed.
func (b *Batcher[T]) DeleteAsync(ctx context.Context, key string) *Future {
	if err := b.s.o.checkKey("batched delete", b.s.prefix, key); err != nil {
		return failed(err)
	}
	return b.queue(ctx, &batchOp{key: b.s.prefix + key})
}

// Close stops accepting writes (they fail with ErrClosed) and flushes: it
// waits until the writes already queued have been sent and answered (each
// caller gets its own result) and returns nil. If ctx ends first, it returns
// an error wrapping ctx's cause, and the queued writes still go out in the
// background, each bounded by WithTxnTimeout; call Close again to wait for
// them. Close is idempotent: once the Batcher is drained, every call returns
// nil at once.
func (b *Batcher[T]) Close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		if b.senders == 0 {
			close(b.idle)
		}
	}
	b.mu.Unlock()
	select {
	case <-b.idle:
		return nil
	default:
	}
	select {
	case <-b.idle:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		n := len(b.pending) + len(b.inflight)
		b.mu.Unlock()
		return fmt.Errorf("kv: close batcher of %q: %d writes not yet answered: %w; they go on in the background, call Close again to wait for them",
			b.s.prefix, n, context.Cause(ctx))
	}
}

func (b *Batcher[T]) do(ctx context.Context, op *batchOp) batchResult {
	if err := unsent(ctx, b.s.cli, op.verb(), op.key); err != nil {
		return batchResult{err: err}
	}
	op.ctx = ctx
	op.done = make(chan struct{})
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return batchResult{err: fmt.Errorf("kv: %s %q: %w", op.verb(), op.key, ErrClosed)}
	}
	b.pending = append(b.pending, op)
	if b.shouldSend() {
		// Send the batch from this goroutine: no hand-off to a sender.
		b.senders++
		if batch := b.take(); len(batch) > 0 {
			b.mu.Unlock()
			b.commit(batch)
			b.mu.Lock()
			b.sent(batch)
			if b.worthAnother() {
				go b.send() // keeps this txn's place in flight
			} else {
				b.senderDone()
			}
		} else {
			b.senderDone()
		}
	}
	b.mu.Unlock()

	select {
	case <-op.done:
		return op.res
	case <-ctx.Done():
	}
	if op.state.CompareAndSwap(opQueued, opWithdrawn) {
		return batchResult{err: notSent(op.verb(), op.key, ctx)}
	}
	select {
	case <-op.done:
		return op.res
	default:
		return batchResult{err: fmt.Errorf("kv: %s %q: %w: %w; its batch was sent, read the key to learn whether it applied",
			op.verb(), op.key, ErrUnknownOutcome, context.Cause(ctx))}
	}
}

// queue submits an async op and returns its future.
func (b *Batcher[T]) queue(ctx context.Context, op *batchOp) *Future {
	if err := unsent(ctx, b.s.cli, op.verb(), op.key); err != nil {
		return failed(err)
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return failed(notSent(op.verb(), op.key, ctx))
	}
	op.ctx, op.async = ctx, true
	op.done = make(chan struct{})
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.slots
		return failed(fmt.Errorf("kv: %s %q: %w", op.verb(), op.key, ErrClosed))
	}
	b.pending = append(b.pending, op)
	if b.shouldSend() {
		b.senders++
		go b.send()
	}
	b.mu.Unlock()
	return &Future{op: op}
}

// shouldSend says whether a write just queued starts a txn: at once when
// none is in flight, else once the queue holds a txn's share of the writes
// and the in-flight limit allows. Called with b.mu held.
func (b *Batcher[T]) shouldSend() bool {
	if b.senders == 0 {
		return true
	}
	return b.senders < b.lat.limit() && len(b.pending) >= b.share()
}

// share is how many queued writes are worth a further txn: the writes in
// the system (queued and in flight) spread over the in-flight limit, but
// never less than half of them or a quarter of a batch, whichever is less:
// the server's cost is mostly per txn, so txns stay as large as the load
// allows. Called with b.mu held.
func (b *Batcher[T]) share() int {
	depth := len(b.pending) + len(b.inflight)
	return min(b.maxOps, max(1, depth/b.lat.limit(), min(depth/2, b.maxOps/4)))
}

// worthAnother says, after a txn, whether its sender should send another
// batch now: when the queue holds a txn's share, or when it was the last txn
// in flight and anything is queued (nobody else would send it). Called with
// b.mu held, the finished txn still counted in b.senders.
func (b *Batcher[T]) worthAnother() bool {
	if len(b.pending) == 0 {
		return false
	}
	return b.senders == 1 || len(b.pending) >= b.share()
}

// send is a sender goroutine, counted in b.senders by whoever started it:
// it sends batches while worthAnother says so.
func (b *Batcher[T]) send() {
	b.mu.Lock()
	for {
		batch := b.take()
		if len(batch) == 0 {
			break
		}
		b.mu.Unlock()
		b.commit(batch)
		b.mu.Lock()
		b.sent(batch)
		if !b.worthAnother() {
			break
		}
	}
	b.senderDone()
	b.mu.Unlock()
}

// sent releases a committed batch's keys. Called with b.mu held.
func (b *Batcher[T]) sent(batch []*batchOp) {
	for _, op := range batch {
		delete(b.inflight, op.key)
	}
}

// senderDone ends a txn's place in flight. Called with b.mu held.
func (b *Batcher[T]) senderDone() {
	b.senders--
	if b.senders == 0 && b.closed {
		close(b.idle)
	}
}

// take removes the next batch from the queue, oldest first: ops whose key is
// already in a batch stay queued, in order, and ops whose context ended are
// withdrawn (an async one here; a caller of Put withdraws its own). Called
// with b.mu held.
func (b *Batcher[T]) take() []*batchOp {
	var batch []*batchOp
	budget := b.s.o.maxRequestBytes - requestOverhead
	if f := b.s.fence; f != nil {
		cmp := f.IsOwner()
		budget -= len(cmp.KeyBytes()) + opOverhead // the fence's compare
	}
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
		if op.async && op.ctx.Err() != nil && op.state.CompareAndSwap(opQueued, opWithdrawn) {
			b.answer(op, batchResult{err: notSent(op.verb(), op.key, op.ctx)})
			continue
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

// answer sets op's result and frees its slot if it has one.
func (b *Batcher[T]) answer(op *batchOp, r batchResult) {
	op.answer(r)
	if op.async {
		<-b.slots
	}
}

// commit sends ops as one txn and answers their callers. If etcd rejects the
// txn because of some operation in it, the ops are split and the parts sent
// again (a rejected txn applied nothing, so this is safe) until each culprit
// fails alone. A single op goes out as a plain Put or Delete, which etcd
// serves for less than a txn.
func (b *Batcher[T]) commit(ops []*batchOp) {
	// A client closed while the ops were queued: not sent, not applied.
	var sent time.Time
	err := etcderr.ClientClosed(b.s.cli)
	var revs int64
	var deleted func(i int) bool
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		sent = time.Now()
		revs, deleted, err = b.send1(requireLeader(ctx), ops)
		cancel()
		if err == nil {
			b.mu.Lock()
			b.lat.observe(time.Since(sent))
			b.mu.Unlock()
		}
	}
	if err == nil {
		if m := b.s.o.metrics; m != nil {
			m.committed(len(ops), sent)
		}
		for i, op := range ops {
			b.answer(op, batchResult{rev: revs, deleted: !op.put && deleted(i)})
		}
		return
	}
	if errors.Is(err, errFenceEnded) {
		for _, op := range ops {
			b.answer(op, batchResult{err: b.s.notHeld(op.verb(), op.key)})
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
	b.logFailure(ops, err)
	for _, op := range ops {
		b.answer(op, batchResult{err: writeErr(op.verb(), op.key, err)})
	}
}

// logFailure logs a txn that failed: at warn when the cluster refused it or
// its outcome is unknown (trouble every writer shares), at debug when one
// operation was at fault (its caller's error says which). Values are not
// logged.
func (b *Batcher[T]) logFailure(ops []*batchOp, err error) {
	level := slog.LevelWarn
	if etcderr.RejectedByOp(err) {
		level = slog.LevelDebug
	}
	log := b.s.o.logger
	if !log.Enabled(context.Background(), level) {
		return
	}
	log.Log(context.Background(), level, "kv: batched txn failed",
		"prefix", b.s.prefix, "ops", len(ops), "first_key", ops[0].key,
		"err", writeErr(ops[0].verb(), ops[0].key, err))
}

// send1 sends ops in one request and returns its revision and which deletes
// removed a key.
func (b *Batcher[T]) send1(ctx context.Context, ops []*batchOp) (int64, func(int) bool, error) {
	if len(ops) == 1 && b.s.fence == nil {
		op := ops[0]
		if !op.put {
			resp, err := b.s.cli.Delete(ctx, op.key)
			if err != nil {
				return 0, nil, err
			}
			return resp.Header.Revision, func(int) bool { return resp.Deleted > 0 }, nil
		}
		var opts []clientv3.OpOption
		if op.lease != 0 {
			opts = []clientv3.OpOption{clientv3.WithLease(op.lease)}
		}
		resp, err := b.s.cli.Put(ctx, op.key, op.data, opts...)
		if err != nil {
			return 0, nil, err
		}
		return resp.Header.Revision, nil, nil
	}
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
	var resp *clientv3.TxnResponse
	var err error
	if f := b.s.fence; f != nil {
		var held bool
		if f.Err() != nil {
			return 0, nil, errFenceEnded
		}
		if resp, held, err = fenced.Send(ctx, b.s.cli, f.IsOwner(), nil, txnOps, nil); err == nil && !held {
			return 0, nil, errFenceEnded
		}
	} else {
		resp, err = b.s.cli.Txn(ctx).Then(txnOps...).Commit()
	}
	if err != nil {
		return 0, nil, err
	}
	return resp.Header.Revision, func(i int) bool {
		return resp.Responses[i].GetResponseDeleteRange().GetDeleted() > 0
	}, nil
}

// errFenceEnded marks a batch refused because the store's fence ended;
// each of its callers gets the store's ErrNotHeld error.
var errFenceEnded = errors.New("fence ended")

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
