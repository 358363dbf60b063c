package kv

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// Update is an optimistic read-modify-write of key: it reads the entry, calls
// fn with its value (exists false and the zero T when absent) and writes fn's
// result in a txn that succeeds only if the key is unchanged since the read
// (same mod revision; still absent for a new key). When another writer got
// there first, it calls fn again with the new value, after a jittered
// backoff, up to the attempts set by WithUpdateRetry (default 32), then fails
// with ErrTooManyConflicts. fn may run several times and must not have side
// effects; an error from fn stops Update and is returned wrapped.
//
// Update retries only definite rejections (the compare failing, or etcd
// refusing before applying: no leader, too many requests); a write whose
// outcome is unknown ends it with ErrUnknownOutcome, as the package
// guarantees say.
//
// Without WithLease, an existing key keeps its lease; a new key gets none.
// Update returns the entry as written.
func (s *Store[T]) Update(ctx context.Context, key string, fn func(old T, exists bool) (T, error), opts ...PutOption) (Entry[T], error) {
	po, err := putOpts(opts)
	if err != nil {
		return Entry[T]{}, err
	}
	if err := s.o.checkKey("update", s.prefix, key); err != nil {
		return Entry[T]{}, err
	}
	full := s.prefix + key
	if fn == nil {
		return Entry[T]{}, fmt.Errorf("kv: update %q: %w: nil update function", full, ErrInvalidArgument)
	}
	resp, err := s.cli.Get(requireLeader(ctx), full)
	if err != nil {
		return Entry[T]{}, fmt.Errorf("kv: update %q: read (nothing written): %w", full, etcderr.WrapMemberStopped(err))
	}
	var cur *mvccpb.KeyValue
	if len(resp.Kvs) > 0 {
		cur = resp.Kvs[0]
	}
	bo := backoff.New(s.o.updateBackoff)
	for attempt := 1; ; attempt++ {
		e, out, now, err := s.updateOnce(ctx, full, cur, fn, po)
		switch {
		case err != nil:
			return Entry[T]{}, err
		case out == written:
			return e, nil
		case out == conflicted:
			cur = now
		}
		if attempt >= s.o.updateAttempts {
			return Entry[T]{}, fmt.Errorf("kv: update %q: %w (%d attempts, nothing written); the key is too hot for read-modify-write: raise WithUpdateRetry or spread the writes over more keys",
				full, ErrTooManyConflicts, attempt)
		}
		if bo.Wait(ctx) != nil {
			return Entry[T]{}, fmt.Errorf("kv: update %q: nothing written: %w", full, context.Cause(ctx))
		}
	}
}

type outcome int

const (
	written    outcome = iota
	conflicted         // the key changed: retry with its new state
	refused            // etcd refused before applying: retry with the same read
)

// updateOnce makes one attempt from the key's state cur (nil: absent). After
// a conflict it returns the key's new state.
func (s *Store[T]) updateOnce(ctx context.Context, full string, cur *mvccpb.KeyValue, fn func(T, bool) (T, error), po putOptions) (Entry[T], outcome, *mvccpb.KeyValue, error) {
	var old T
	exists := cur != nil
	if exists {
		var err error
		if old, err = decode(s.codec, full, cur.Value); err != nil {
			return Entry[T]{}, 0, nil, fmt.Errorf("kv: update: %w", err)
		}
	}
	v, err := fn(old, exists)
	if err != nil {
		return Entry[T]{}, 0, nil, fmt.Errorf("kv: update %q: update function failed (nothing written): %w", full, err)
	}
	data, err := encodeValue(s.codec, full, v)
	if err != nil {
		return Entry[T]{}, 0, nil, fmt.Errorf("kv: update: %w", err)
	}
	if err := s.o.checkSize("update", full, 3, len(data)); err != nil {
		return Entry[T]{}, 0, nil, err
	}
	cmp := clientv3.Compare(clientv3.CreateRevision(full), "=", 0)
	putOpts := po.clientOpts()
	if exists {
		cmp = clientv3.Compare(clientv3.ModRevision(full), "=", cur.ModRevision)
		if po.lease == 0 {
			putOpts = []clientv3.OpOption{clientv3.WithIgnoreLease()}
		}
	}
	if err := unsent(ctx, s.cli, "update", full); err != nil {
		return Entry[T]{}, 0, nil, err
	}
	resp, held, err := s.txn(ctx, cmp, clientv3.OpPut(full, data, putOpts...), clientv3.OpGet(full))
	switch {
	case err != nil && (errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrTooManyRequests)):
		return Entry[T]{}, refused, nil, nil
	case err != nil:
		return Entry[T]{}, 0, nil, writeErr("update", full, err)
	case !held:
		return Entry[T]{}, 0, nil, s.notHeld("update", full)
	case !resp.Succeeded:
		if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
			return Entry[T]{}, conflicted, r.Kvs[0], nil
		}
		return Entry[T]{}, conflicted, nil, nil // deleted meanwhile
	}
	e := Entry[T]{
		Key:            full[len(s.prefix):],
		Value:          v,
		CreateRevision: resp.Header.Revision,
		ModRevision:    resp.Header.Revision,
		Version:        1,
		Lease:          po.lease,
	}
	if exists {
		e.CreateRevision, e.Version = cur.CreateRevision, cur.Version+1
		if po.lease == 0 {
			e.Lease = clientv3.LeaseID(cur.Lease)
		}
	}
	return e, written, nil, nil
}
