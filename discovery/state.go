package discovery

import (
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// State is where a Registration stands.
type State int

const (
	// Registered: the key is in etcd, attached to a lease being kept alive.
	Registered State = iota + 1
	// Lost: the key or its lease is gone, or may be (a partition, an etcd
	// restart, someone deleted the key); the supervisor is re-registering.
	Lost
	// Closed: Close was called; the instance is deregistered.
	Closed
)

func (s State) String() string {
	switch s {
	case Registered:
		return "registered"
	case Lost:
		return "lost"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StateChange is one transition of a Registration, for logs and metrics.
type StateChange struct {
	State State
	// Err says why the registration was lost (Lost), or why the last
	// re-registration attempt failed. It wraps ErrKeyDeleted, the lease
	// package's ErrExpired, ErrDeadlinePassed, ErrRevoked or ErrClosed,
	// ErrClientClosed, or an etcd error. Nil for Registered and Closed.
	Err error
	// Lease is the lease the key is attached to (Registered), or was.
	Lease clientv3.LeaseID
	// Revision is the etcd revision of the put (Registered).
	Revision int64
	// Time is when the change happened.
	Time time.Time
}

func (c StateChange) String() string {
	if c.Err != nil {
		return fmt.Sprintf("%s (lease %x): %v", c.State, int64(c.Lease), c.Err)
	}
	return fmt.Sprintf("%s (lease %x, revision %d)", c.State, int64(c.Lease), c.Revision)
}

// stateBuffer is how many changes States holds for a slow reader.
const stateBuffer = 64

// states is a Registration's current state and the stream of its changes.
type states struct {
	mu      sync.Mutex
	metrics *discoveryMetrics // nil: not measured
	cur     StateChange
	ch      chan StateChange
	closed  bool
}

func newStates() *states { return &states{ch: make(chan StateChange, stateBuffer)} }

func (s *states) get() StateChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// set records c and queues it for States readers without ever blocking:
// if the buffer is full, the oldest queued change is dropped. Closed is
// final: it closes the channel, and nothing is recorded after it.
func (s *states) set(c StateChange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.metrics != nil && s.cur.State != c.State {
		s.metrics.transition(s.cur.State, c.State)
	}
	s.cur = c
	for {
		select {
		case s.ch <- c:
			if c.State == Closed {
				s.closed = true
				close(s.ch)
			}
			return
		default:
			select {
			case <-s.ch: // drop the oldest
			default:
			}
		}
	}
}
