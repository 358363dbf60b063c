package election

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/watchresume"
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
// The channel stays open while ctx lives: when the watch breaks (a member
// losing its leader, a reconnect) Observe resumes it where it broke, and
// when the changes it missed were compacted away it reads the election
// again and reports the state it finds. It is closed once ctx ends, or if
// cli is closed.
func (e *Election) Observe(ctx context.Context) <-chan Event {
	out := make(chan Event, 1)
	go e.observe(ctx, &observer{out: out})
	return out
}

func (e *Election) observe(ctx context.Context, o *observer) {
	defer close(o.out)
	retry := backoff.New(backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second})
	for ctx.Err() == nil && e.cli.Ctx().Err() == nil {
		err := e.follow(ctx, o)
		if ctx.Err() != nil || e.cli.Ctx().Err() != nil {
			return
		}
		// Only a refusal retrying cannot fix (such as permission denied)
		// ends a stream; keep trying, as the caller may fix it.
		e.opts.logger.Warn("election: observe failed; retrying", "election", e.name, "err", err)
		_ = retry.Wait(ctx)
	}
}

// follow reads every candidate, reports the state, and goes on reporting
// it after each change, until the stream fails for good.
func (e *Election) follow(ctx context.Context, o *observer) error {
	s, err := watchresume.Open(ctx, e.cli, watchresume.Config{
		Range:    watchresume.Prefix(e.prefix),
		Snapshot: true,
		Logger:   e.opts.logger.With("election", e.name),
	})
	if err != nil {
		return err
	}
	defer s.Close()
	cands := map[string]*mvccpb.KeyValue{}
	for {
		u, err := s.Next()
		if err != nil {
			return err
		}
		if u.Resync {
			clear(cands)
			for _, kv := range u.KVs {
				cands[string(kv.Key)] = kv
			}
			o.emit(leaderOf(cands, u.Revision))
			continue
		}
		// Report the state after each revision in the update.
		for i, ev := range u.Events {
			if ev.Type == clientv3.EventTypeDelete {
				delete(cands, string(ev.Kv.Key))
			} else {
				cands[string(ev.Kv.Key)] = ev.Kv
			}
			if i+1 == len(u.Events) || u.Events[i+1].Kv.ModRevision != ev.Kv.ModRevision {
				o.emit(leaderOf(cands, ev.Kv.ModRevision))
			}
		}
	}
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
	return Event{Leader: Leader{Key: string(first.Key), Value: string(first.Value), Token: first.CreateRevision}, Revision: rev}
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
