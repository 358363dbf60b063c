package election

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
)

// Event is a state of an election seen by Observe: who leads, or that
// nobody does.
type Event struct {
	// Leader is the current leader; the zero Leader when Vacant.
	Leader Leader
	// Vacant is true when nobody leads: the election has no candidates.
	Vacant bool
	// Revision is the etcd revision at which this state was read.
	Revision int64
}

// sameState reports whether two events describe the same state (the
// revision they were read at aside).
func sameState(a, b Event) bool { return a.Vacant == b.Vacant && a.Leader == b.Leader }

// Observe reports the election's state on the returned channel: first the
// current one, then every change of leader (a new leader key, or a value
// proclaimed by the leader) and every time the election falls vacant.
//
// The channel holds one event. A reader that falls behind loses
// intermediate states, never the latest: an event not yet received is
// replaced by a newer one. A state is never reported twice in a row.
//
// The channel stays open while ctx lives: when the watch breaks
// (compaction, a member losing its leader, a reconnect), Observe reads the
// election again and resumes, reporting whatever changed meanwhile. It is
// closed once ctx ends, or if cli is closed.
func (e *Election) Observe(ctx context.Context) <-chan Event {
	out := make(chan Event, 1)
	go e.observe(ctx, &observer{out: out})
	return out
}

func (e *Election) observe(ctx context.Context, o *observer) {
	defer close(o.out)
	retry := backoff.New(backoff.Policy{Max: time.Second})
	for ctx.Err() == nil && e.cli.Ctx().Err() == nil {
		if e.observeOnce(ctx, o) {
			retry.Reset()
		}
		if ctx.Err() != nil || e.cli.Ctx().Err() != nil {
			return
		}
		e.opts.logger.Debug("election: observe: re-reading after the watch ended", "election", e.name)
		_ = retry.Wait(ctx)
	}
}

// observeOnce reads every candidate, reports the state, and follows the
// watch until it breaks. It reports whether it got as far as watching.
func (e *Election) observeOnce(ctx context.Context, o *observer) bool {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithPrefix())
	if err != nil {
		return false
	}
	cands := make(map[string]*mvccpb.KeyValue, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		cands[string(kv.Key)] = kv
	}
	o.emit(leaderOf(cands, resp.Header.Revision))

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := e.cli.Watch(wctx, e.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for wr := range wch {
		if wr.Err() != nil {
			return true
		}
		// Report the state after each revision in the response.
		for i, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				delete(cands, string(ev.Kv.Key))
			} else {
				cands[string(ev.Kv.Key)] = ev.Kv
			}
			if i+1 == len(wr.Events) || wr.Events[i+1].Kv.ModRevision != ev.Kv.ModRevision {
				o.emit(leaderOf(cands, ev.Kv.ModRevision))
			}
		}
	}
	return true
}

// leaderOf returns the state of an election with the given candidates.
func leaderOf(cands map[string]*mvccpb.KeyValue, rev int64) Event {
	var first *mvccpb.KeyValue
	for _, kv := range cands {
		if first == nil || kv.CreateRevision < first.CreateRevision {
			first = kv
		}
	}
	if first == nil {
		return Event{Vacant: true, Revision: rev}
	}
	return Event{Leader: Leader{Key: string(first.Key), Value: string(first.Value), Rev: first.CreateRevision}, Revision: rev}
}

// observer delivers events on a one-slot channel, replacing an event not
// yet received with a newer one and never delivering a state twice in a
// row. Only its goroutine sends, so emit never blocks.
type observer struct {
	out       chan Event
	pending   bool  // an event sits in out, perhaps not yet received
	sent      Event // that event
	delivered Event // the last event known to have been received
	any       bool  // whether any event was delivered
}

func (o *observer) emit(ev Event) {
	if o.pending {
		select {
		case <-o.out: // not received yet: take it back
		default:
			o.delivered, o.any = o.sent, true
		}
		o.pending = false
	}
	if o.any && sameState(o.delivered, ev) {
		return
	}
	o.out <- ev
	o.sent, o.pending = ev, true
}
