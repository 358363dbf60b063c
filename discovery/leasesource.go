package discovery

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/lease"
)

// leaseSource hands a Registration the lease to attach its key to. Its
// methods are called with the Registration's writeMu held, never
// concurrently.
type leaseSource interface {
	// current returns a live lease, granting one if needed.
	current(ctx context.Context) (*lease.Lease, error)
	// invalidate says etcd answered that l does not exist.
	invalidate(l *lease.Lease)
	// last is the lease current returned most recently, or nil.
	last() *lease.Lease
	// ttl is the TTL of the leases handed out.
	ttl() time.Duration
	// release gives the leases up for good (Close). It is idempotent.
	release(ctx context.Context) error
}

// ownLease is the source of a Registration without WithLease: a lease of
// its own, re-granted whenever it is lost, revoked by Close.
type ownLease struct {
	cli  *clientv3.Client
	life context.Context // bounds keep-alives: the Registration's lifetime
	t    time.Duration
	cur  *lease.Lease
	opts []lease.Option
}

func (o *ownLease) current(ctx context.Context) (*lease.Lease, error) {
	if o.cur != nil && o.cur.Err() == nil {
		return o.cur, nil
	}
	l, err := grantKept(ctx, o.cli, o.t, o.life, o.opts...)
	if err != nil {
		return nil, err
	}
	if o.cur != nil {
		o.cur.Close() // lost already; etcd expires it if it still has it
	}
	o.cur = l
	return l, nil
}

func (o *ownLease) invalidate(l *lease.Lease) {
	if l == o.cur {
		l.Close()
	}
}

func (o *ownLease) last() *lease.Lease { return o.cur }
func (o *ownLease) ttl() time.Duration { return o.t }

func (o *ownLease) release(ctx context.Context) error {
	if o.cur == nil {
		return nil
	}
	return o.cur.Revoke(ctx) // idempotent
}

// grantKept grants a lease and keeps it alive until life ends.
func grantKept(ctx context.Context, cli *clientv3.Client, ttl time.Duration, life context.Context, opts ...lease.Option) (*lease.Lease, error) {
	l, err := lease.Grant(ctx, cli, ttl, opts...)
	if err != nil {
		return nil, err
	}
	l.KeepAlive(life)
	return l, nil
}

// sharedLease is the source of a Registration with WithLease: the
// caller's lease while it lives, then the fallback shared by every
// registration of that lease.
type sharedLease struct {
	cli  *clientv3.Client
	user *lease.Lease
	dead bool // etcd said the user's lease is gone before its handle noticed
	fb   *fallback
	prev *lease.Lease
}

func (s *sharedLease) current(ctx context.Context) (*lease.Lease, error) {
	if !s.dead && s.user.Err() == nil {
		s.prev = s.user
		return s.user, nil
	}
	s.dead = true
	if s.fb == nil {
		s.fb = joinFallback(s.user, s.cli)
	}
	l, err := s.fb.current(ctx)
	if err == nil {
		s.prev = l
	}
	return l, err
}

func (s *sharedLease) invalidate(l *lease.Lease) {
	if l == s.user {
		s.dead = true
	} else if s.fb != nil {
		s.fb.invalidate(l)
	}
}

func (s *sharedLease) last() *lease.Lease { return s.prev }
func (s *sharedLease) ttl() time.Duration { return s.user.TTL() }

func (s *sharedLease) release(ctx context.Context) error {
	if s.fb == nil {
		return nil
	}
	err := s.fb.leave(ctx)
	s.fb = nil
	return err
}

// fallbacks maps a lost shared lease to the lease that replaces it, so the
// registrations that shared it go on sharing one lease and one keep-alive.
var fallbacks = struct {
	sync.Mutex
	m map[*lease.Lease]*fallback
}{m: map[*lease.Lease]*fallback{}}

// fallback is a replacement lease for the registrations of one lost
// shared lease, granted once and re-granted whenever it is lost itself.
type fallback struct {
	of   *lease.Lease
	cli  *clientv3.Client
	refs int // guarded by fallbacks' lock

	mu   sync.Mutex
	cur  *lease.Lease
	life context.Context
	stop context.CancelFunc
}

func joinFallback(of *lease.Lease, cli *clientv3.Client) *fallback {
	fallbacks.Lock()
	defer fallbacks.Unlock()
	f := fallbacks.m[of]
	if f == nil {
		f = &fallback{of: of, cli: cli}
		f.life, f.stop = context.WithCancel(context.Background())
		fallbacks.m[of] = f
	}
	f.refs++
	return f
}

func (f *fallback) current(ctx context.Context) (*lease.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil && f.cur.Err() == nil {
		return f.cur, nil
	}
	l, err := grantKept(ctx, f.cli, f.of.TTL(), f.life)
	if err != nil {
		return nil, err
	}
	if f.cur != nil {
		f.cur.Close()
	}
	f.cur = l
	return l, nil
}

func (f *fallback) invalidate(l *lease.Lease) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l == f.cur {
		l.Close()
	}
}

// leave drops one registration; the last one out revokes the lease.
func (f *fallback) leave(ctx context.Context) error {
	fallbacks.Lock()
	f.refs--
	last := f.refs == 0
	if last {
		delete(fallbacks.m, f.of)
	}
	fallbacks.Unlock()
	if !last {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.stop()
	if f.cur == nil {
		return nil
	}
	return f.cur.Revoke(ctx)
}
