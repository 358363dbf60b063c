package node

import (
	"context"
	"errors"
	"io"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// pipeWatchClient is the in-process client's watch transport: it connects
// clientv3's watcher to the node's watch server with a watchPipe per
// stream.
//
// It replaces etcd's in-process adapter, whose stream deadlocks when many
// watches are cancelled at once (etcd issues 18879 and 20716): the
// adapter's stream is two unbuffered channels, and four loops wait on each
// other in a cycle. The client's run loop blocks sending a cancel request,
// which the server's receive loop cannot take while it blocks handing the
// cancellation's answer to its send loop (a 16-slot queue, full), which
// blocks sending answers to the client's receive loop, which blocks handing
// the previous answer to the run loop. Every watch on the stream then
// stalls for good.
//
// A watchPipe breaks the cycle where gRPC does, on the client's requests:
// Send queues them without blocking (they are small and few: creations,
// cancellations, progress requests), so the run loop always returns to
// taking answers. Answers, which can be large and many, still flow only as
// fast as the client takes them, so a slow watcher holds back the server
// rather than growing memory.
type pipeWatchClient struct {
	g   *clientGate
	srv pb.WatchServer
}

func (c *pipeWatchClient) Watch(ctx context.Context, _ ...grpc.CallOption) (pb.Watch_WatchClient, error) {
	if err := c.g.refuse(); err != nil {
		return nil, err
	}
	p := &watchPipe{g: c.g, ready: make(chan struct{}, 1), resps: make(chan *pb.WatchResponse, 1), done: make(chan struct{})}
	p.ctx, p.cancel = c.g.streamContext(ctx)
	go p.serve(c.srv)
	return (*watchPipeClient)(p), nil
}

// watchPipe is one watch stream between clientv3's watcher and the watch
// server, in-process.
type watchPipe struct {
	g      *clientGate
	ctx    context.Context // the stream's: ends with the caller's, or the node
	cancel context.CancelFunc

	mu         sync.Mutex
	reqs       []*pb.WatchRequest // client to server, unbounded
	sendClosed bool
	ready      chan struct{} // a request is queued, or sending closed

	resps chan *pb.WatchResponse // server to client
	done  chan struct{}          // the server's handler returned
	err   error                  // its error, set before done closes
}

func (p *watchPipe) serve(srv pb.WatchServer) {
	err := srv.Watch((*watchPipeServer)(p))
	if err == nil {
		err = io.EOF // a stream that ended normally, as gRPC says it
	}
	p.err = err
	close(p.done)
	p.cancel()
}

// end is the error a stream that is over reports to its client.
func (p *watchPipe) end() error {
	select {
	case <-p.done:
		return p.g.failed(p.err)
	default:
	}
	return p.g.failed(p.ctx.Err())
}

// watchPipeClient is the client's end: pb.Watch_WatchClient.
type watchPipeClient watchPipe

func (c *watchPipeClient) pipe() *watchPipe { return (*watchPipe)(c) }

// Send queues req for the server without blocking.
func (c *watchPipeClient) Send(req *pb.WatchRequest) error {
	p := c.pipe()
	if err := p.g.refuse(); err != nil {
		return err
	}
	p.mu.Lock()
	if p.sendClosed || p.ctx.Err() != nil {
		p.mu.Unlock()
		return io.EOF // as gRPC: the stream's status comes from Recv
	}
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	select {
	case p.ready <- struct{}{}:
	default: // already signalled
	}
	return nil
}

// Recv returns the server's next answer; answers already sent are
// delivered before the end of the stream.
func (c *watchPipeClient) Recv() (*pb.WatchResponse, error) {
	p := c.pipe()
	select {
	case r := <-p.resps:
		return r, nil
	case <-p.done:
	case <-p.ctx.Done():
	}
	select {
	case r := <-p.resps:
		return r, nil
	default:
		return nil, p.end()
	}
}

func (c *watchPipeClient) CloseSend() error {
	p := c.pipe()
	p.mu.Lock()
	p.sendClosed = true
	p.mu.Unlock()
	select {
	case p.ready <- struct{}{}:
	default:
	}
	return nil
}

func (c *watchPipeClient) Context() context.Context { return c.ctx }

// Header and Trailer: the watch server sets no metadata.
func (c *watchPipeClient) Header() (metadata.MD, error) { return nil, nil }
func (c *watchPipeClient) Trailer() metadata.MD         { return nil }

// SendMsg and RecvMsg serve generic callers; clientv3 uses Send and Recv.
func (c *watchPipeClient) SendMsg(m any) error {
	req, ok := m.(*pb.WatchRequest)
	if !ok {
		return errNotWatchMessage
	}
	return c.Send(req)
}

func (c *watchPipeClient) RecvMsg(m any) error {
	out, ok := m.(**pb.WatchResponse)
	if !ok {
		return errNotWatchMessage
	}
	r, err := c.Recv()
	if err == nil {
		*out = r
	}
	return err
}

var errNotWatchMessage = errors.New("node: in-process watch stream: message of the wrong type")

// watchPipeServer is the server's end: pb.Watch_WatchServer.
type watchPipeServer watchPipe

func (s *watchPipeServer) pipe() *watchPipe { return (*watchPipe)(s) }

// Recv returns the client's next request, waiting for one.
func (s *watchPipeServer) Recv() (*pb.WatchRequest, error) {
	p := s.pipe()
	for {
		p.mu.Lock()
		if len(p.reqs) > 0 {
			req := p.reqs[0]
			p.reqs[0] = nil
			p.reqs = p.reqs[1:]
			p.mu.Unlock()
			return req, nil
		}
		closed := p.sendClosed
		p.mu.Unlock()
		if closed {
			return nil, io.EOF
		}
		select {
		case <-p.ready:
		case <-p.ctx.Done():
			return nil, p.ctx.Err()
		}
	}
}

// Send hands resp to the client, waiting until it takes it.
func (s *watchPipeServer) Send(resp *pb.WatchResponse) error {
	p := s.pipe()
	select {
	case p.resps <- resp:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

func (s *watchPipeServer) Context() context.Context     { return s.ctx }
func (s *watchPipeServer) SetHeader(metadata.MD) error  { return nil }
func (s *watchPipeServer) SendHeader(metadata.MD) error { return nil }
func (s *watchPipeServer) SetTrailer(metadata.MD)       {}

func (s *watchPipeServer) SendMsg(m any) error {
	resp, ok := m.(*pb.WatchResponse)
	if !ok {
		return errNotWatchMessage
	}
	return s.Send(resp)
}

func (s *watchPipeServer) RecvMsg(m any) error {
	out, ok := m.(**pb.WatchRequest)
	if !ok {
		return errNotWatchMessage
	}
	r, err := s.Recv()
	if err == nil {
		*out = r
	}
	return err
}
