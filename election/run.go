package election

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
)

// Callbacks are what Run calls as leadership comes and goes. Any of them
// may be nil.
type Callbacks struct {
	// OnElected is called, in its own goroutine, each time this candidate
	// is elected. ctx is the term's Context: it is cancelled when
	// leadership is lost, resigned, or Run's context ends, and the callback
	// must then return promptly. Leadership lasts until then whether or not
	// OnElected returns earlier; call term.Resign to step down (Run then
	// campaigns again).
	OnElected func(ctx context.Context, term *Term)

	// OnDemoted is called after a term ends and its OnElected has returned
	// (and, when Run's context ended, after Resign). It is called once per
	// OnElected, never without one.
	OnDemoted func()

	// OnLeaderChange is called with every state Observe reports, from its
	// own goroutine: a new leader (this candidate or another), a proclaimed
	// value, or a vacant election. A slow callback skips intermediate
	// states, never the latest.
	OnLeaderChange func(Event)
}

// Run campaigns in election name with value until ctx ends: it is
// NewRunner(cli, name, value, cb, opts...).Run(ctx), for callers that need
// no Runner to ask IsLeader or Term.
func Run(ctx context.Context, cli *clientv3.Client, name, value string, cb Callbacks, opts ...RunnerOption) error {
	r, err := newRunner("run", cli, name, value, cb, opts)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// Runner is a supervised candidate: Run campaigns, leads and campaigns
// again until its context ends, while IsLeader and Term tell the rest of
// the program whether it leads right now, without a flag of its own. It is
// safe for concurrent use; Run may be called again after it returned, but
// not while it runs.
type Runner struct {
	e       *Election
	name    string
	value   string
	cb      Callbacks
	running atomic.Bool
	term    atomic.Pointer[Term] // the term being led, nil between terms
}

// NewRunner checks its arguments and returns a Runner; nothing is sent
// until Run. Errors wrap ErrInvalidArgument, ErrInvalidName, ErrInvalidTTL
// or ErrValueTooLarge.
func NewRunner(cli *clientv3.Client, name, value string, cb Callbacks, opts ...RunnerOption) (*Runner, error) {
	return newRunner("new runner", cli, name, value, cb, opts)
}

func newRunner(op string, cli *clientv3.Client, name, value string, cb Callbacks, opts []RunnerOption) (*Runner, error) {
	e, err := newElection(op, cli, name, runnerOptions(opts))
	if err != nil {
		return nil, err
	}
	if err := e.checkValue(op, value); err != nil {
		return nil, err
	}
	return &Runner{e: e, name: name, value: value, cb: cb}, nil
}

// IsLeader reports whether this Runner leads now: it has a term whose
// Context has not ended. It turns true when Campaign returns the term,
// before OnElected is called, and false as soon as the term's Context ends
// (loss, Resign, or Run's context ending), before OnDemoted is called.
func (r *Runner) IsLeader() bool {
	t := r.term.Load()
	return t != nil && t.Context().Err() == nil
}

// Term is the term this Runner leads, or nil when it does not lead.
func (r *Runner) Term() *Term {
	if t := r.term.Load(); t != nil && t.Context().Err() == nil {
		return t
	}
	return nil
}

// Run campaigns in the Runner's election with its value until ctx ends,
// in the spirit of Kubernetes' leaderelection and Curator's LeaderSelector
// with auto-requeue: it campaigns, calls OnElected with a context that ends with
// leadership, calls OnDemoted once the term is over, and campaigns again
// after a short jittered backoff, with a new lease when the old one was
// lost. Failed campaigns are retried with jittered exponential backoff.
// When ctx ends, Run cancels the term's context, waits for OnElected to
// return, and resigns so that the next candidate leads at once.
//
// A resignation that fails (etcd unreachable) is retried, fenced, before
// the next campaign. If it still fails when ctx ends, the key goes with its
// lease: a lease Run granted is no longer renewed; a lease given with
// WithLease is the caller's to revoke.
//
// Run returns an error wrapping ctx's error once ctx has ended and every
// callback has returned (errors.Is(err, context.Canceled), as lock.Run). It returns earlier only for invalid arguments, or with an
// error wrapping ErrLeaseLost when the lease given with WithLease is
// lost (Run cannot replace a lease it does not own).
func (r *Runner) Run(ctx context.Context) (err error) {
	if !r.running.CompareAndSwap(false, true) {
		return errorf("run", r.name, "%w: this Runner is already running; make one Runner per candidate", ErrInvalidArgument)
	}
	defer r.running.Store(false)
	e, name, value, cb := r.e, r.name, r.value, r.cb
	e.opts.health.start()
	defer func() { e.opts.health.stop(err) }()
	var wg sync.WaitGroup
	defer wg.Wait()
	if cb.OnLeaderChange != nil {
		octx, stop := context.WithCancel(ctx)
		defer stop()
		events := e.Observe(octx)
		wg.Go(func() {
			for ev := range events {
				cb.OnLeaderChange(ev)
			}
		})
	}

	log := e.opts.logger.With("election", name)
	retry := backoff.New(backoff.Policy{Initial: 50 * time.Millisecond, Max: 2 * time.Second})
	var unresigned *Term // a term whose resignation failed
	for {
		if unresigned != nil {
			// Its key may still lead (with a shared lease it would stay
			// forever) and would refuse this lease's next candidacy: resign
			// it first. Resign is fenced, so retrying it is safe.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			err := unresigned.Resign(rctx)
			cancel()
			if err != nil {
				e.opts.health.campaigned(nil, err) // no campaign until it succeeds
				log.Warn("election: resign still failing; campaigning again once it succeeds", "key", unresigned.Key(), "err", err)
				if retry.Wait(ctx) != nil {
					return errorf("run", name, "%w", ctx.Err())
				}
				continue
			}
			unresigned = nil
		}
		term, err := e.Campaign(ctx, value)
		if ctx.Err() == nil {
			e.opts.health.campaigned(term, err)
		}
		switch {
		case err == nil:
			retry.Reset()
			log.Info("election: elected", "key", term.Key(), "token", term.Token())
			if !r.lead(ctx, term, log) {
				unresigned = term
			}
			e.opts.health.demoted()
		case ctx.Err() != nil:
			return errorf("run", name, "%w", ctx.Err())
		case e.opts.shared && e.opts.lease.Err() != nil:
			return err // Campaign's own: "election: campaign ...", the prefix once
		default:
			log.Warn("election: campaign failed; retrying", "err", err, "attempt", retry.Attempts()+1)
		}
		if retry.Wait(ctx) != nil {
			return errorf("run", name, "%w", ctx.Err())
		}
	}
}

// lead runs one term: OnElected, then, once leadership ends or ctx does,
// resignation and OnDemoted. It reports whether the resignation succeeded.
func (r *Runner) lead(ctx context.Context, term *Term, log *slog.Logger) (resigned bool) {
	cb := r.cb
	r.term.Store(term)
	defer r.term.Store(nil)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		if cb.OnElected != nil {
			cb.OnElected(term.Context(), term)
		}
	}()
	select {
	case <-term.Done():
	case <-ctx.Done():
		term.end(term.released()) // stop the leader before anyone else starts
	}
	<-returned
	if err := term.Err(); !errors.Is(err, ErrReleased) {
		log.Info("election: leadership lost", "key", term.Key(), "token", term.Token(), "err", err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	err := term.Resign(rctx)
	cancel()
	if err != nil {
		log.Warn("election: resign failed; retrying before the next campaign", "key", term.Key(), "err", err)
	}
	if cb.OnDemoted != nil {
		cb.OnDemoted()
	}
	return err == nil
}
