package coordtest

import (
	"io"
	"net"
	"sync"
)

// relay forwards a member's raft (peer) traffic. Members advertise the
// relay's address, so every peer connection passes through it, and closing
// the relay's connections when a member stops cuts them the way a crash
// would. etcd alone leaves keep-alive connections between in-process members
// open after they stop, which leaks goroutines in tests.
type relay struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	open   bool // forward connections; while false, close them at once
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newRelay() (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

func (r *relay) addr() string { return r.ln.Addr().String() }

// setTarget sets where new connections go: the member's real peer listener.
func (r *relay) setTarget(addr string) {
	r.mu.Lock()
	r.target = addr
	r.mu.Unlock()
}

// setOpen switches forwarding on or off. Until then a connection is closed as soon
// as it is accepted: a member bootstrapping a new cluster asks its peers
// whether it was bootstrapped before, and a peer that is itself still
// bootstrapping would leave that question hanging for a second per peer,
// while a closed connection is a quick "no".
func (r *relay) setOpen(open bool) {
	r.mu.Lock()
	r.open = open
	r.mu.Unlock()
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		target, open := r.target, r.open
		r.mu.Unlock()
		if !open {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		if !r.track(in, out) {
			in.Close()
			out.Close()
			continue // the loop ends when the listener is closed
		}
		r.wg.Add(2)
		go r.pipe(out, in)
		go r.pipe(in, out)
	}
}

func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || !r.open {
		return false // closed (or switched off) while this one was dialing
	}
	for _, c := range cs {
		r.conns[c] = struct{}{}
	}
	return true
}

func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	r.mu.Lock()
	delete(r.conns, dst)
	delete(r.conns, src)
	r.mu.Unlock()
}

// dropAll closes every open connection; new ones are still accepted.
func (r *relay) dropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.Close()
	}
}

// close stops the relay and waits for its goroutines.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.ln.Close()
	r.dropAll()
	r.wg.Wait()
}
