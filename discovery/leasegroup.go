package discovery

import (
	"context"
	"sync"

	"github.com/coordkit/coordkit/lease"
)

// A leaseGroup is the registrations riding one caller's lease (WithLease):
// one callback on the lease's Context, not a goroutine per registration,
// ends them all when the lease is lost.
type leaseGroup struct {
	l    *lease.Lease
	refs int         // guarded by groups' lock
	stop func() bool // unregisters the callback

	mu      sync.Mutex
	members map[*Registration]struct{}
	lost    bool
}

var groups = struct {
	sync.Mutex
	m map[*lease.Lease]*leaseGroup
}{m: map[*lease.Lease]*leaseGroup{}}

// joinGroup adds r to l's group, starting l's keep-alive if it is not
// running (the lease package's contract for recipes). It reports false if
// l is already lost.
func joinGroup(l *lease.Lease, r *Registration) (*leaseGroup, bool) {
	groups.Lock()
	defer groups.Unlock()
	g := groups.m[l]
	if g == nil {
		l.KeepAlive(context.Background()) // a no-op if running
		g = &leaseGroup{l: l, members: map[*Registration]struct{}{}}
		groups.m[l] = g
		g.stop = context.AfterFunc(l.Context(), g.lose)
	}
	g.refs++
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lost {
		return g, false
	}
	g.members[r] = struct{}{}
	return g, true
}

// leave drops r; the last one out unregisters the callback.
func (g *leaseGroup) leave(r *Registration) {
	g.mu.Lock()
	delete(g.members, r)
	g.mu.Unlock()
	groups.Lock()
	g.refs--
	last := g.refs == 0
	if last {
		delete(groups.m, g.l)
	}
	groups.Unlock()
	if last {
		g.stop()
	}
}

// lose ends every member: the lease is lost.
func (g *leaseGroup) lose() {
	g.mu.Lock()
	g.lost = true
	members := make([]*Registration, 0, len(g.members))
	for r := range g.members {
		members = append(members, r)
	}
	g.mu.Unlock()
	cause := context.Cause(g.l.Context())
	for _, r := range members {
		r.end(cause)
	}
}
