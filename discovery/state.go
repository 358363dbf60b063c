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
	// restart, someone deleted the key); the registration is putting it
	// back.
	Lost
	// Closed: Close was called; the instance is deregistered.
	Closed
	// Ended: the caller's lease given with WithLease was lost, so the
	// registration ended for good (Err wraps ErrLost and the lease's
	// error). Close it, and Register again on a new lease.
	Ended
)

func (s State) String() string {
	switch s {
	case Registered:
		return "registered"
	case Lost:
		return "lost"
	case Closed:
		return "closed"
	case Ended:
		return "ended"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StateChange is one transition of a Registration, for logs and metrics.
type StateChange struct {
	State State
	// Err says why the registration was lost (Lost) or ended (Ended), or
	// why the last re-registration attempt failed. It wraps ErrKeyDeleted,
	// the lease package's ErrExpired, ErrDeadlinePassed or
	// ErrClientStopped, ErrClientClosed, ErrLost, or an etcd error. Nil for
	// Registered and Closed.
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

// states is a Registration's current state and the stream of its changes,
// made only when someone asks for it (most registrations never do).
type states struct {
	mu      sync.Mutex
	metrics *discoveryMetrics // nil: not measured
	cur     StateChange
	ch      chan StateChange // nil until States is called
	closed  bool             // Closed was recorded: nothing is after it
}

func (s *states) get() StateChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// stream returns the channel of changes, making it on the first call with
// the current state queued first.
func (s *states) stream() <-chan StateChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan StateChange, stateBuffer)
		if s.cur.State != 0 {
			s.queue(s.cur)
		}
	}
	return s.ch
}

// set records c and queues it for the States reader without ever
// blocking. Closed is final: nothing is recorded after it.
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
	if s.ch != nil {
		s.queue(c)
	}
	s.closed = c.State == Closed
}

// queue adds c to the channel, dropping the oldest change if it is full;
// after Closed it closes the channel. Called with mu held.
func (s *states) queue(c StateChange) {
	for {
		select {
		case s.ch <- c:
			if c.State == Closed {
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
