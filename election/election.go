package election

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/keyguard"
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
// fails). Campaign never returns a Term whose lease or key is already gone:
// if the candidacy ends while waiting, it returns an error wrapping
// ErrLeaseLost, and it re-checks key and lease just before returning.
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
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(l.ID()))).
		Commit()
	if err != nil {
		e.withdraw(ctx, l, key, 0)
		return nil, errorf("campaign", e.name, "%w", etcderr.Outcome(err))
	}
	if !resp.Succeeded {
		e.withdraw(ctx, l, "", 0)
		return nil, errorf("campaign", e.name, "%w: key %s exists", ErrDuplicateCandidate, key)
	}
	rev := resp.Header.Revision
	// The guard watches the candidate key and lease from now on; if we are
	// elected it becomes the Term's context, so it must outlive ctx.
	held, stopHeld := leaseContext(context.WithoutCancel(ctx), l)
	guard, cancelGuard := keyguard.Guard(held, e.cli, key, rev, l)
	stopGuard := func() { cancelGuard(); stopHeld() }
	sawDelete, err := e.waitTurn(ctx, guard, l, key, rev)
	if err != nil {
		stopGuard()
		e.withdraw(ctx, l, key, rev)
		return nil, err
	}
	t := newTerm(e, l, key, rev, value, guard, stopGuard)
	if m := e.opts.metrics; m != nil {
		m.elected(t, sawDelete)
	}
	return t, nil
}

// candidateLease returns the shared lease, or grants and keeps alive a new
// one.
func (e *Election) candidateLease(ctx context.Context) (*lease.Lease, error) {
	if l := e.opts.lease; l != nil {
		if err := l.Err(); err != nil {
			return nil, errorf("campaign", e.name, "%w: the lease given with WithLease is lost: %w; grant a new lease", ErrLeaseLost, err)
		}
		return l, nil
	}
	l, err := lease.Grant(ctx, e.cli, e.opts.ttl, e.opts.leaseOpts...)
	if err != nil {
		return nil, errorf("campaign", e.name, "granting a lease: %w", err)
	}
	// The keep-alive lives as long as the candidacy; withdraw or the Term
	// ends it.
	l.KeepAlive(context.Background())
	return l, nil
}

// leaseContext returns a context cancelled, with l.Err() as its cause, as
// soon as l is lost. keyguard.Guard watches l too, but not while it re-reads
// the key after its watch broke, and that read can hang for etcd's request
// timeout (over 5 s) on a member cut off from its cluster: as the guard's
// parent, this context ends such a read, and leadership, on time.
func leaseContext(parent context.Context, l *lease.Lease) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-l.Done():
			cancel(l.Err())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// waitTurn blocks until the candidate key (created at rev) is the oldest in
// the election, re-checking that key and lease are still live. It returns
// an error wrapping ErrLeaseLost if guard fires, or ctx's error. When
// measured, it returns when it last saw a candidate ahead deleted.
func (e *Election) waitTurn(ctx, guard context.Context, l *lease.Lease, key string, rev int64) (sawDelete time.Time, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(guard, cancel)
	defer stop()

	older := append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(rev-1))
	retry := backoff.New(backoff.Policy{Max: 500 * time.Millisecond})
	for {
		if err := e.campaignEnded(ctx, guard); err != nil {
			return sawDelete, err
		}
		// One read for both: the closest older candidate, and our own key.
		resp, err := e.cli.Txn(wctx).Then(clientv3.OpGet(e.prefix, older...), clientv3.OpGet(key)).Commit()
		if err != nil {
			if wctx.Err() == nil {
				_ = retry.Wait(wctx)
			}
			continue
		}
		retry.Reset()
		own := resp.Responses[1].GetResponseRange().Kvs
		if len(own) == 0 || own[0].CreateRevision != rev {
			return sawDelete, errorf("campaign", e.name, "%w: candidate key %s was deleted", ErrLeaseLost, key)
		}
		prev := resp.Responses[0].GetResponseRange().Kvs
		if len(prev) == 0 {
			// Elected as of resp's revision, provided the lease still
			// stands: never hand out a Term on a lease already lost.
			if err := e.campaignEnded(ctx, guard); err != nil {
				return sawDelete, err
			}
			if err := l.Err(); err != nil {
				return sawDelete, errorf("campaign", e.name, "%w: %w", ErrLeaseLost, err)
			}
			if d := l.Deadline(); !time.Now().Before(d) {
				return sawDelete, errorf("campaign", e.name, "%w: lease %x: %w (no renewal confirmed since %s)", ErrLeaseLost, int64(l.ID()), lease.ErrDeadlinePassed, d.Format(time.RFC3339Nano))
			}
			return sawDelete, nil
		}
		waitDelete(wctx, e.cli, string(prev[0].Key), prev[0].CreateRevision, resp.Header.Revision)
		if e.opts.metrics != nil {
			sawDelete = time.Now()
		}
	}
}

// campaignEnded says why a campaign must stop, or nil.
func (e *Election) campaignEnded(ctx, guard context.Context) error {
	if err := guard.Err(); err != nil {
		return errorf("campaign", e.name, "%w: %w", ErrLeaseLost, context.Cause(guard))
	}
	if err := ctx.Err(); err != nil {
		return errorf("campaign", e.name, "%w", context.Cause(ctx))
	}
	return nil
}

// waitDelete returns when the key created at revision created is deleted,
// when the watch breaks (compaction, lost leader, reconnect) or ctx ends;
// the caller then reads again.
//
// The watch starts at the current revision rather than at read + 1 (read
// being the revision the key was last seen at): etcd serves a watch that
// starts in the past from a catch-up loop that runs every 100 ms, which
// would delay a failover whose delete lands while the watch is being set
// up. If the store moved past read before the watch started, one more read
// of the key closes the gap.
func waitDelete(ctx context.Context, cli *clientv3.Client, key string, created, read int64) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range cli.Watch(wctx, key, clientv3.WithCreatedNotify(), clientv3.WithFilterPut()) {
		switch {
		case resp.Err() != nil, len(resp.Events) > 0:
			return
		case resp.Created && resp.Header.Revision != read:
			got, err := cli.Get(wctx, key)
			if err != nil || len(got.Kvs) == 0 || got.Kvs[0].CreateRevision != created {
				return
			}
		}
	}
}

// withdraw removes a failed candidacy: a granted lease is revoked (removing
// the key with it), a shared lease's key is deleted. Requests are bounded by
// releaseTimeout; whatever they miss expires with the lease.
func (e *Election) withdraw(ctx context.Context, l *lease.Lease, key string, rev int64) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if !e.opts.shared {
		e.releaseLease(rctx, l)
		return
	}
	if key == "" || l.Err() != nil || e.clientClosed() != nil {
		return // nothing written, gone with the lease, or no way to say
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
