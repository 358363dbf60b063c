package node

import (
	"context"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Stopping fast. etcd's own Close drains client RPCs for up to its request
// timeout (over 5 s whenever a client keeps a watch or lease keep-alive
// stream open), hands leadership over for up to that long again (also to a
// peer that is itself closing), and then waits up to a second for the
// member's peer connections, which a still-running peer keeps open. A Node
// instead:
//
//  1. (Close only) hands leadership to a voting peer that is not closing in
//     this process, bounded by one election timeout (raft abandons a
//     transfer after that anyway), and gives unary client requests already
//     in flight up to unaryGrace to finish;
//  2. ends every client stream it serves, so remote clients fail over to
//     other members at once;
//  3. hard-stops the server (raft, peer transport, storage: its files are
//     closed) and closes its listeners, so the ports and the data
//     directory are free;
//  4. lets etcd's Close wind down what is left (connection handlers; it
//     waits up to a second for them) in the background; Node.Drained is
//     closed when it returns. A peer connection a running peer keeps open
//     is only ended by etcd's 5 s peer read timeout: etcd's timeout
//     connection re-arms the read deadline that net/http sets to abort the
//     handler's pending read.

// unaryGrace bounds how long Close waits for unary client requests in
// flight before it stops the server under them.
const unaryGrace = 300 * time.Millisecond

// rpcTracker follows the client RPCs a member's gRPC servers run, so a
// stopping node can end streams and wait for unary calls.
type rpcTracker struct {
	mu       sync.Mutex
	cut      bool
	next     uint64
	streams  map[uint64]context.CancelFunc
	inflight int
	idle     chan struct{} // closed when inflight drops to 0, if waited on
}

func newRPCTracker() *rpcTracker { return &rpcTracker{streams: map[uint64]context.CancelFunc{}} }

// serverOptions are the gRPC server options that install the tracker.
func (t *rpcTracker) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(t.unary), grpc.ChainStreamInterceptor(t.stream)}
}

func (t *rpcTracker) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	t.mu.Lock()
	t.inflight++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.inflight--
		if t.inflight == 0 && t.idle != nil {
			close(t.idle)
			t.idle = nil
		}
		t.mu.Unlock()
	}()
	return handler(ctx, req)
}

func (t *rpcTracker) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	t.mu.Lock()
	if t.cut {
		t.mu.Unlock()
		return status.Error(codes.Unavailable, "coordkit: member is stopping")
	}
	id := t.next
	t.next++
	t.streams[id] = cancel
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.streams, id)
		t.mu.Unlock()
	}()
	return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
}

// waitUnary waits until no unary RPC is in flight, or for d.
func (t *rpcTracker) waitUnary(d time.Duration) {
	t.mu.Lock()
	if t.inflight == 0 {
		t.mu.Unlock()
		return
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
	}
}

// cutStreams ends every stream being served and refuses new ones.
func (t *rpcTracker) cutStreams() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cut = true
	for _, cancel := range t.streams {
		cancel()
	}
}

// ctxStream is a server stream whose context the tracker can cancel.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// closingMembers holds the IDs of members of this process that are
// stopping, so a leader that steps down does not hand over to one of them.
var closingMembers sync.Map // uint64 -> struct{}

// stepDown hands leadership to a voting peer if this member leads, waiting
// at most one election timeout. A failure only means the others elect a
// leader on their own after their election timeout.
func stepDown(e *embed.Etcd, electionTimeout time.Duration) {
	s := e.Server
	self := uint64(s.MemberID())
	if s.Lead() != self {
		return
	}
	var target uint64
	for _, m := range s.Cluster().Members() {
		id := uint64(m.ID)
		if id == self || m.IsLearner || !m.IsStarted() {
			continue
		}
		if _, closing := closingMembers.Load(id); closing {
			continue
		}
		target = id
		break
	}
	if target == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), electionTimeout)
	defer cancel()
	// Give up early if the transferee starts closing too (all members of
	// this process closing at once).
	go func() {
		tick := time.NewTicker(min(electionTimeout/10, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, closing := closingMembers.Load(target); closing {
					cancel()
					return
				}
			}
		}
	}()
	_ = s.MoveLeader(ctx, self, target) // best effort, see above
}

// closeListeners closes the member's client and peer listeners, freeing its
// ports before etcd's Close gets to them.
func closeListeners(e *embed.Etcd) {
	for _, l := range e.Clients {
		if l != nil {
			l.Close()
		}
	}
	for _, p := range e.Peers {
		if p != nil && p.Listener != nil {
			p.Listener.Close()
		}
	}
}
