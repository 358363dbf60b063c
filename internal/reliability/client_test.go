package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coordkit/coordkit/kv"
)

// val is what the clients store: the ID of the write, and for Update the
// ID it replaced.
type val struct {
	ID   string `json:"id"`
	Prev string `json:"prev,omitempty"`
}

// client runs kv operations and records them in a history. Writes that fail
// with a definite error (nothing applied) and reads that fail are left out:
// they did nothing.
type client struct {
	id      int
	h       *history
	store   *kv.Store[val]
	batch   *kv.Batcher[val] // nil if the client does not batch
	timeout time.Duration    // per operation
	seq     int
	seen    map[string]int64 // key → last mod revision this client saw
}

func (c *client) nextID() string {
	c.seq++
	return fmt.Sprintf("c%d.%d", c.id, c.seq)
}

func (c *client) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

// outcome classifies a write's error: applied (nil), maybe applied
// (ErrUnknownOutcome), or not applied (anything else).
func outcome(err error) (o output, record bool) {
	switch {
	case err == nil:
		return output{}, true
	case errors.Is(err, kv.ErrUnknownOutcome):
		return output{unknown: true}, true
	}
	return output{}, false
}

func (c *client) get(key string, opts ...kv.ReadOption) (output, error) {
	in := input{kind: opGet, key: key, serial: len(opts) > 0}
	ctx, cancel := c.ctx()
	defer cancel()
	call := c.h.now()
	e, err := c.store.Get(ctx, key, opts...)
	var o output
	switch {
	case errors.Is(err, kv.ErrNotFound):
		delete(c.seen, key)
	case err != nil:
		return o, err
	default:
		o = output{found: true, value: e.Value.ID, rev: e.ModRevision}
		c.seen[key] = e.ModRevision
	}
	c.h.add(c.id, call, in, o)
	return o, nil
}

func (c *client) put(key string, batched bool) error {
	in := input{kind: opPut, key: key, value: c.nextID(), batched: batched}
	ctx, cancel := c.ctx()
	defer cancel()
	call := c.h.now()
	var rev int64
	var err error
	if batched {
		rev, err = c.batch.Put(ctx, key, val{ID: in.value})
	} else {
		rev, err = c.store.Put(ctx, key, val{ID: in.value})
	}
	return c.write(call, in, rev, err)
}

func (c *client) cas(key string, expect int64) error {
	in := input{kind: opCAS, key: key, value: c.nextID(), expect: expect}
	ctx, cancel := c.ctx()
	defer cancel()
	call := c.h.now()
	rev, err := c.store.CompareAndSwap(ctx, key, expect, val{ID: in.value})
	if errors.Is(err, kv.ErrConflict) {
		c.h.add(c.id, call, in, output{conflict: true})
		return nil
	}
	return c.write(call, in, rev, err)
}

func (c *client) update(key string) error {
	in := input{kind: opUpdate, key: key, value: c.nextID()}
	ctx, cancel := c.ctx()
	defer cancel()
	call := c.h.now()
	e, err := c.store.Update(ctx, key, func(old val, exists bool) (val, error) {
		if !exists {
			old.ID = ""
		}
		return val{ID: in.value, Prev: old.ID}, nil
	})
	o, record := outcome(err)
	if record && !o.unknown {
		o.prev, o.rev = e.Value.Prev, e.ModRevision
		c.seen[key] = o.rev
	}
	if record {
		c.h.add(c.id, call, in, o)
	}
	return err
}

func (c *client) del(key string, batched bool) error {
	in := input{kind: opDelete, key: key, batched: batched}
	ctx, cancel := c.ctx()
	defer cancel()
	call := c.h.now()
	var existed bool
	var rev int64
	var err error
	if batched {
		existed, rev, err = c.batch.Delete(ctx, key)
	} else {
		existed, rev, err = c.store.Delete(ctx, key)
	}
	o, record := outcome(err)
	if record && !o.unknown {
		o.found, o.rev = existed, rev
		delete(c.seen, key)
	}
	if record {
		c.h.add(c.id, call, in, o)
	}
	return err
}

// write records a put or compare-and-swap.
func (c *client) write(call int64, in input, rev int64, err error) error {
	o, record := outcome(err)
	if record && !o.unknown {
		o.rev = rev
		c.seen[in.key] = rev
	}
	if record {
		c.h.add(c.id, call, in, o)
	}
	return err
}
