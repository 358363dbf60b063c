package election

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/internal/waitqueue"
	"github.com/coordkit/coordkit/lease"
)

const (
	// maxRequestBytes is etcd's default request size limit (1.5 MiB);
	// requestOverhead leaves room for the rest of a campaign transaction.
	maxRequestBytes = 3 << 19
	requestOverhead = 1 << 10

	// releaseTimeout bounds the clean-up requests (revoking a lease,
	// deleting a key) sent after the caller's context ended. Anything they
	// fail to remove expires with its lease.
	releaseTimeout = 2 * time.Second
)

// Election is one named election: candidates Campaign, anyone can ask for
// the Leader or Observe it. An Election holds no state of its own beyond its
// configuration, so it is safe for concurrent use; every Campaign is a
// separate candidate with its own key.
type Election struct {
	cli    *clientv3.Client
	name   string
	prefix string
	opts   options
}

// New returns the election called name on cli's cluster. Candidates' keys
// are name + "/" + the hex lease ID, and the leader is the candidate with
// the lowest create revision: the layout of etcd's concurrency.Election, so
// `etcdctl elect NAME` and concurrency.Election take part in the same
// election.
//
// Names nest as key prefixes do: the election "a" also sees the candidates
// of an election "a/b", so do not name one election a path prefix of
// another.
func New(cli *clientv3.Client, name string, opts ...Option) (*Election, error) {
	return newElection("new", cli, name, opts)
}

// newElection is New, its errors naming op.
func newElection(op string, cli *clientv3.Client, name string, opts []Option) (*Election, error) {
	if len(name)+requestOverhead > maxRequestBytes {
		return nil, fmt.Errorf("election: %s: %w: %d bytes; a name must leave room for the value in etcd's 1.5 MiB request limit", op, ErrInvalidName, len(name))
	}
	if cli == nil {
		return nil, errorf(op, name, "%w: nil *clientv3.Client; pass the client from coordkit.Connect or node.Client", ErrInvalidArgument)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, errorf(op, name, "%w", err)
	}
	if name == "" {
		return nil, errorf(op, name, "%w: empty name; candidates' keys live under name + \"/\", as with `etcdctl elect NAME`", ErrInvalidName)
	}
	return &Election{cli: cli, name: name, prefix: name + "/", opts: o}, nil
}

// Name returns the election's name.
func (e *Election) Name() string { return e.name }

// checkValue rejects values that cannot be sent with the candidate key.
func (e *Election) checkValue(op, value string) error {
	// The key is the prefix plus at most 16 hex digits.
	if size := len(e.prefix) + 16 + len(value) + requestOverhead; size > maxRequestBytes {
		return errorf(op, e.name, "%w: %d bytes; key and value must fit in etcd's 1.5 MiB request limit, so store large data elsewhere and put a reference in the value",
			ErrValueTooLarge, len(value))
	}
	return nil
}

func (e *Election) candidateKey(id clientv3.LeaseID) string {
	return fmt.Sprintf("%s%x", e.prefix, int64(id))
}

// Campaign makes value a candidate and blocks until it leads, returning its
// Term. Candidates lead in the order they campaigned.
//
// Without WithLease each Campaign grants a lease of the election's TTL and
// keeps it alive; the lease ends with the Term (or with the Campaign, if it
// fails). If the candidacy ends while waiting, Campaign returns an error
// wrapping ErrLeaseLost (the package doc's first guarantee).
//
// With WithLease, a candidate key the lease already has in the election is
// resumed, as etcd's ResumeElection does: a process that restarted and
// opened its lease again (lease.Open) takes its place back, with its value
// updated, and its leadership at once (same Token) if that key leads. A key
// another Campaign of this process holds on the same lease handle is waited
// for, as any other candidate would.
//
// If ctx ends first, Campaign withdraws the candidate and returns ctx's
// error. A transaction whose outcome is unknown is not retried: Campaign
// withdraws and returns the error.
func (e *Election) Campaign(ctx context.Context, value string) (*Term, error) {
	if err := e.checkValue("campaign", value); err != nil {
		return nil, err
	}
	l, err := e.candidateLease(ctx)
	if err != nil {
		return nil, err
	}
	key := e.candidateKey(l.ID())
	if m := e.opts.metrics; m != nil {
		m.campaigns.Add(1)
	}
	c := &candidacy{l: l, key: key}
	turn, err := e.enter(ctx, c, value)
	if err != nil {
		return nil, err
	}
	// The guard watches the candidate key and lease from now on; if we are
	// elected it becomes the Term's context, so it must outlive ctx.
	guard, stopGuard := keyguard.Guard(context.WithoutCancel(ctx), e.cli, key, c.rev, l)
	var sawDelete time.Time
	w := waitqueue.Waiter{
		Cli: e.cli, Lease: l, Key: key, Rev: c.rev, Guard: guard,
		Check: func(ctx context.Context) (waitqueue.Turn, error) { return e.check(ctx, c) },
	}
	if e.opts.metrics != nil {
		w.Deleted = func() { sawDelete = time.Now() }
	}
	if err := w.Wait(ctx, turn); err != nil {
		stopGuard()
		e.withdraw(ctx, c)
		return nil, e.campaignErr(err)
	}
	t := newTerm(e, c, value, guard, stopGuard)
	if m := e.opts.metrics; m != nil {
		m.elected(t, sawDelete)
	}
	return t, nil
}

// candidacy is one Campaign's key on its lease. Its address identifies it
// among the claims (waitqueue.Claim) of a shared lease.
type candidacy struct {
	l   *lease.Lease
	key string
	rev int64 // the key's create revision, once known
}

// enter creates the candidate key, or resumes the one the lease has, and
// returns the first turn. On error the candidacy is withdrawn.
func (e *Election) enter(ctx context.Context, c *candidacy, value string) (waitqueue.Turn, error) {
	for {
		if e.opts.shared {
			waitqueue.Claim(c.l, c.key, c, nil)
		}
		resp, err := e.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(c.key), "=", 0)).
			Then(waitqueue.LastBefore(e.prefix, 0), clientv3.OpPut(c.key, value, clientv3.WithLease(c.l.ID()))).
			Else(clientv3.OpGet(c.key)).
			Commit()
		if err != nil {
			e.withdraw(ctx, c)
			return waitqueue.Turn{}, errorf("campaign", e.name, "%w", etcderr.Outcome(err))
		}
		if resp.Succeeded {
			c.rev = resp.Header.Revision
			held, next := waitqueue.WaitForLast(resp.Responses[0].GetResponseRange())
			return waitqueue.Turn{Held: held, Next: next, Rev: c.rev}, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue // resigned meanwhile
		}
		rev := kvs[0].CreateRevision
		switch {
		case clientv3.LeaseID(kvs[0].Lease) != c.l.ID():
			e.withdraw(ctx, c)
			return waitqueue.Turn{}, errorf("campaign", e.name, "%w: key %s is attached to lease %x, not %x; it was not written by a campaign: delete it",
				ErrDuplicateCandidate, c.key, kvs[0].Lease, int64(c.l.ID()))
		case e.opts.shared && waitqueue.ClaimedByOthers(c.l, c.key, c):
			// Another Campaign of this process on the same lease: wait
			// for its term to end, as any other candidate would.
			waitqueue.Unclaim(c.l, c.key, c)
			if err := waitqueue.WaitGone(ctx, e.cli, c.l, c.key, rev, resp.Header.Revision); err != nil {
				return waitqueue.Turn{}, e.campaignErr(err)
			}
			continue
		}
		// Resume the key an earlier process left on this lease: update its
		// value and read the turn, fenced on its create revision.
		resp, err = e.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(c.key), "=", rev)).
			Then(clientv3.OpPut(c.key, value, clientv3.WithLease(c.l.ID())), waitqueue.LastBefore(e.prefix, rev-1)).
			Commit()
		if err != nil {
			c.rev = rev
			e.withdraw(ctx, c)
			return waitqueue.Turn{}, errorf("campaign", e.name, "resuming %s: %w", c.key, etcderr.Outcome(err))
		}
		if !resp.Succeeded {
			continue // gone meanwhile
		}
		c.rev = rev
		held, next := waitqueue.WaitForLast(resp.Responses[1].GetResponseRange())
		return waitqueue.Turn{Held: held, Next: next, Rev: resp.Header.Revision}, nil
	}
}

// check reads the candidate's turn: whether a candidate is ahead of it.
func (e *Election) check(ctx context.Context, c *candidacy) (waitqueue.Turn, error) {
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(c.key), "=", c.rev)).
		Then(waitqueue.LastBefore(e.prefix, c.rev-1)).
		Commit()
	if err != nil {
		return waitqueue.Turn{}, err
	}
	if !resp.Succeeded {
		return waitqueue.Turn{}, errorf("campaign", e.name, "%w: candidate key %s was deleted", ErrLeaseLost, c.key)
	}
	held, next := waitqueue.WaitForLast(resp.Responses[0].GetResponseRange())
	return waitqueue.Turn{Held: held, Next: next, Rev: resp.Header.Revision}, nil
}

// campaignErr explains why waiting failed.
func (e *Election) campaignErr(err error) error {
	switch {
	case errors.Is(err, ErrLeaseLost):
		return err
	case errors.Is(err, waitqueue.ErrGone):
		return errorf("campaign", e.name, "%w: %w", ErrLeaseLost, err)
	}
	return errorf("campaign", e.name, "%w", err)
}

// candidateLease returns the shared lease, or grants and keeps alive a new
// one.
func (e *Election) candidateLease(ctx context.Context) (*lease.Lease, error) {
	if l := e.opts.lease; l != nil {
		if err := l.Err(); err != nil {
			return nil, errorf("campaign", e.name, "%w: the lease given with WithLease is lost: %w; grant a new lease", ErrLeaseLost, err)
		}
		l.KeepAlive(context.Background()) // a no-op if already running
		return l, nil
	}
	l, err := lease.Grant(ctx, e.cli, e.opts.ttl, append(e.opts.leaseOpts, lease.WithLogger(e.opts.logger))...)
	if err != nil {
		return nil, errorf("campaign", e.name, "granting a lease: %w", err)
	}
	// The keep-alive lives as long as the candidacy; withdraw or the Term
	// ends it.
	l.KeepAlive(context.Background())
	return l, nil
}

// withdraw removes a failed candidacy: a granted lease is revoked (removing
// the key with it), a shared lease's key is deleted. Requests are bounded by
// releaseTimeout; whatever they miss expires with the lease.
func (e *Election) withdraw(ctx context.Context, c *candidacy) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	l, key, rev := c.l, c.key, c.rev
	if !e.opts.shared {
		e.releaseLease(rctx, l)
		return
	}
	defer waitqueue.Unclaim(l, key, c)
	if l.Err() != nil || e.clientClosed() != nil {
		return // gone with the lease, or no way to say
	}
	cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", rev)
	if rev == 0 { // the put's outcome is unknown: delete it if it is ours
		cmp = clientv3.Compare(clientv3.LeaseValue(key), "=", l.ID())
	}
	if _, err := e.cli.Txn(rctx).If(cmp).Then(clientv3.OpDelete(key)).Commit(); err != nil {
		e.opts.logger.Debug("election: withdrawing candidate failed; it expires with its lease",
			"election", e.name, "key", key, "err", err)
	}
}

// releaseLease revokes a lease the election granted, or, if it is already
// lost or cannot be revoked, stops keeping it alive.
func (e *Election) releaseLease(ctx context.Context, l *lease.Lease) {
	if l.Err() == nil && e.clientClosed() == nil && l.Revoke(ctx) == nil {
		return
	}
	l.Close()
}

// clientClosed returns an error if the client was closed: requests would
// only be retried until their deadline.
func (e *Election) clientClosed() error {
	return etcderr.ClientClosed(e.cli)
}

// Leader returns the current leader: the candidate with the lowest create
// revision. It returns an error wrapping ErrNoLeader if there is none.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return Leader{}, errorf("leader", e.name, "%w", err)
	}
	if len(resp.Kvs) == 0 {
		return Leader{}, errorf("leader", e.name, "%w: the election has no candidates", ErrNoLeader)
	}
	kv := resp.Kvs[0]
	return Leader{Key: string(kv.Key), Value: string(kv.Value), Token: kv.CreateRevision}, nil
}

// Leader is who leads an election.
type Leader struct {
	Key   string // the leader's candidate key: name + "/" + hex lease ID
	Value string // the value it campaigned with or last proclaimed
	Token int64  // its key's create revision: the term's fencing token (Term.Token)
}
