package kv

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/watchresume"
)

// Store is a typed view of one key prefix in etcd. It holds no goroutines or
// connections of its own and is safe for concurrent use.
type Store[T any] struct {
	cli    *clientv3.Client
	prefix string
	codec  Codec[T]
	o      options
	rng    watchresume.Range
	fence  Fence // nil: writes are not fenced (see Fenced)
}

// New returns a Store of the keys under prefix, values encoded with the
// codec (JSON unless WithCodec says otherwise).
//
// The prefix is normalised to end in "/": New(cli, "svc") stores key "a" as
// "svc/a" and never sees "svc2/a". The empty prefix is the whole keyspace.
// New sends nothing; it fails with ErrInvalidArgument for a nil client or a
// bad option, and ErrTooLarge for a prefix that leaves no room for keys.
func New[T any](cli *clientv3.Client, prefix string, opts ...Option) (*Store[T], error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	if cli == nil {
		return nil, fmt.Errorf("kv: new store %q: %w", prefix, errs.NilClient)
	}
	codec := JSONCodec[T]()
	if o.codec != nil {
		c, ok := o.codec.(Codec[T])
		if !ok {
			var zero T
			return nil, fmt.Errorf("kv: new store %q: %w: codec %T does not encode %T values; give WithCodec a Codec[%T]",
				prefix, ErrInvalidArgument, o.codec, zero, zero)
		}
		codec = c
	}
	p, err := normalizePrefix(prefix, o.maxRequestBytes)
	if err != nil {
		return nil, err
	}
	return &Store[T]{cli: cli, prefix: p, codec: codec, o: o, rng: watchresume.Prefix(p)}, nil
}

// Prefix is the normalised prefix every key of the store lives under.
func (s *Store[T]) Prefix() string { return s.prefix }

// Client is the etcd client the store uses.
func (s *Store[T]) Client() *clientv3.Client { return s.cli }

// prepare validates a write of v under key and encodes it. nKeys is how often
// the key appears in the request.
func (s *Store[T]) prepare(op, key string, v T, nKeys int, opts []PutOption) (string, string, putOptions, error) {
	var po putOptions
	if len(opts) > 0 {
		var err error
		if po, err = putOpts(opts); err != nil {
			return "", "", po, err
		}
	}
	if err := s.o.checkKey(op, s.prefix, key); err != nil {
		return "", "", po, err
	}
	full := s.prefix + key
	data, err := encodeValue(s.codec, full, v)
	if err != nil {
		return "", "", po, fmt.Errorf("kv: %s: %w", op, err)
	}
	if err := s.o.checkSize(op, full, nKeys, len(data)); err != nil {
		return "", "", po, err
	}
	return full, data, po, nil
}

// requireLeader is clientv3.WithRequireLeader without its allocations in
// the common case of a context without outgoing metadata: etcd then fails a
// request at once, definitely not applied, when the member has no leader,
// rather than letting it time out with an unknown outcome.
func requireLeader(ctx context.Context) context.Context {
	if _, ok := metadata.FromOutgoingContext(ctx); ok {
		return clientv3.WithRequireLeader(ctx)
	}
	return metadata.NewOutgoingContext(ctx, requireLeaderMD)
}

// requireLeaderMD is shared and never modified (gRPC and clientv3 copy
// outgoing metadata before changing it).
var requireLeaderMD = metadata.Pairs(rpctypes.MetadataRequireLeaderKey, rpctypes.MetadataHasLeader)

// Put stores v under key and returns the revision of the write (like
// etcdctl put; WithLease like --lease).
//
// Errors: ErrInvalidName, ErrTooLarge, ErrCodec before sending; then
// ErrRejected (not applied; with ErrLeaseNotFound for a missing lease) or
// ErrUnknownOutcome (may have been applied).
func (s *Store[T]) Put(ctx context.Context, key string, v T, opts ...PutOption) (int64, error) {
	full, data, po, err := s.prepare("put", key, v, 1, opts)
	if err != nil {
		return 0, err
	}
	if err := unsent(ctx, s.cli, "put", full); err != nil {
		return 0, err
	}
	if s.fence != nil {
		resp, err := s.fencedOp(ctx, "put", full, clientv3.OpPut(full, data, po.clientOpts()...))
		if err != nil {
			return 0, err
		}
		return resp.Header.Revision, nil
	}
	resp, err := s.cli.Put(requireLeader(ctx), full, data, po.clientOpts()...)
	if err != nil {
		return 0, writeErr("put", full, err)
	}
	return resp.Header.Revision, nil
}

// Swap stores v under key like Put and returns the entry it replaced, nil if
// the key was absent (like etcdctl put --prev-kv). If the previous value
// cannot be decoded, the write still happened: rev is set and the error wraps
// ErrCodec.
func (s *Store[T]) Swap(ctx context.Context, key string, v T, opts ...PutOption) (prev *Entry[T], rev int64, err error) {
	full, data, po, err := s.prepare("swap", key, v, 1, opts)
	if err != nil {
		return nil, 0, err
	}
	if err := unsent(ctx, s.cli, "swap", full); err != nil {
		return nil, 0, err
	}
	var prevKv *mvccpb.KeyValue
	if s.fence != nil {
		resp, err := s.fencedOp(ctx, "swap", full, clientv3.OpPut(full, data, append(po.clientOpts(), clientv3.WithPrevKV())...))
		if err != nil {
			return nil, 0, err
		}
		rev, prevKv = resp.Header.Revision, resp.Responses[0].GetResponsePut().PrevKv
	} else {
		resp, err := s.cli.Put(requireLeader(ctx), full, data, append(po.clientOpts(), clientv3.WithPrevKV())...)
		if err != nil {
			return nil, 0, writeErr("swap", full, err)
		}
		rev, prevKv = resp.Header.Revision, resp.PrevKv
	}
	if prevKv == nil {
		return nil, rev, nil
	}
	e, err := s.entry(prevKv)
	if err != nil {
		return nil, rev, fmt.Errorf("kv: swap %q: written at revision %d, but the previous value is unreadable: %w", full, rev, err)
	}
	return &e, rev, nil
}

// Get returns the entry under key, or an error wrapping ErrNotFound. With
// AtRevision it reads the past (ErrCompacted if etcd no longer has it); with
// Serializable it reads the connected member's copy without consensus.
func (s *Store[T]) Get(ctx context.Context, key string, opts ...ReadOption) (Entry[T], error) {
	ro, err := readOpts(opts)
	if err != nil {
		return Entry[T]{}, err
	}
	if err := s.o.checkKey("get", s.prefix, key); err != nil {
		return Entry[T]{}, err
	}
	full := s.prefix + key
	var ops []clientv3.OpOption
	switch {
	case ro.rev != 0:
		ops = []clientv3.OpOption{clientv3.WithRev(ro.rev)}
		if ro.serializable {
			ops = append(ops, clientv3.WithSerializable())
		}
	case ro.serializable:
		ops = serializableOpts
	}
	if !ro.serializable {
		ctx = requireLeader(ctx)
	}
	resp, err := s.cli.Get(ctx, full, ops...)
	if err != nil {
		return Entry[T]{}, readErr("get", full, ro.rev, err)
	}
	if len(resp.Kvs) == 0 {
		return Entry[T]{}, fmt.Errorf("kv: get %q: %w", full, ErrNotFound)
	}
	e, err := s.entry(resp.Kvs[0])
	if err != nil {
		return e, fmt.Errorf("kv: get: %w", err)
	}
	return e, nil
}

// serializableOpts is shared and never modified (clientv3 only reads it).
var serializableOpts = []clientv3.OpOption{clientv3.WithSerializable()}

// Create stores v under key only if the key is absent, and returns the
// revision of the write; a present key gives ErrExists and writes nothing.
func (s *Store[T]) Create(ctx context.Context, key string, v T, opts ...PutOption) (int64, error) {
	full, data, po, err := s.prepare("create", key, v, 3, opts)
	if err != nil {
		return 0, err
	}
	if err := unsent(ctx, s.cli, "create", full); err != nil {
		return 0, err
	}
	resp, held, err := s.txn(ctx,
		clientv3.Compare(clientv3.CreateRevision(full), "=", 0),
		clientv3.OpPut(full, data, po.clientOpts()...),
		clientv3.OpGet(full, clientv3.WithKeysOnly()))
	if err != nil {
		return 0, writeErr("create", full, err)
	}
	if !held {
		return 0, s.notHeld("create", full)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("kv: create %q: %w (mod revision %d); use Put to overwrite or CompareAndSwap to replace it",
			full, ErrExists, currentModRev(resp))
	}
	return resp.Header.Revision, nil
}

// Delete removes key, reporting whether it existed and the revision of the
// deletion (the store's current revision when nothing was deleted).
func (s *Store[T]) Delete(ctx context.Context, key string) (existed bool, rev int64, err error) {
	if err := s.o.checkKey("delete", s.prefix, key); err != nil {
		return false, 0, err
	}
	full := s.prefix + key
	if err := unsent(ctx, s.cli, "delete", full); err != nil {
		return false, 0, err
	}
	if s.fence != nil {
		resp, err := s.fencedOp(ctx, "delete", full, clientv3.OpDelete(full))
		if err != nil {
			return false, 0, err
		}
		return resp.Responses[0].GetResponseDeleteRange().GetDeleted() > 0, resp.Header.Revision, nil
	}
	resp, err := s.cli.Delete(requireLeader(ctx), full)
	if err != nil {
		return false, 0, writeErr("delete", full, err)
	}
	return resp.Deleted > 0, resp.Header.Revision, nil
}

// CompareAndSwap stores v under key only if the key's mod revision is still
// modRev (0: only if absent), and returns the revision of the write. Another
// mod revision gives ErrConflict (also ErrNotFound if the key is gone) and
// writes nothing.
func (s *Store[T]) CompareAndSwap(ctx context.Context, key string, modRev int64, v T, opts ...PutOption) (int64, error) {
	if modRev < 0 {
		return 0, fmt.Errorf("kv: compare-and-swap %q: %w: negative mod revision %d", s.prefix+key, ErrInvalidArgument, modRev)
	}
	full, data, po, err := s.prepare("compare-and-swap", key, v, 3, opts)
	if err != nil {
		return 0, err
	}
	if err := unsent(ctx, s.cli, "compare-and-swap", full); err != nil {
		return 0, err
	}
	resp, held, err := s.txn(ctx,
		clientv3.Compare(clientv3.ModRevision(full), "=", modRev),
		clientv3.OpPut(full, data, po.clientOpts()...),
		clientv3.OpGet(full, clientv3.WithKeysOnly()))
	if err != nil {
		return 0, writeErr("compare-and-swap", full, err)
	}
	if !held {
		return 0, s.notHeld("compare-and-swap", full)
	}
	if !resp.Succeeded {
		return 0, conflict("compare-and-swap", full, modRev, resp)
	}
	return resp.Header.Revision, nil
}

// CompareAndDelete deletes key only if its mod revision is still modRev, and
// returns the revision of the deletion. Another mod revision gives
// ErrConflict (also ErrNotFound if the key is gone) and deletes nothing.
func (s *Store[T]) CompareAndDelete(ctx context.Context, key string, modRev int64) (int64, error) {
	if err := s.o.checkKey("compare-and-delete", s.prefix, key); err != nil {
		return 0, err
	}
	full := s.prefix + key
	if modRev <= 0 {
		return 0, fmt.Errorf("kv: compare-and-delete %q: %w: mod revision %d; pass the ModRevision of an Entry you read", full, ErrInvalidArgument, modRev)
	}
	if err := unsent(ctx, s.cli, "compare-and-delete", full); err != nil {
		return 0, err
	}
	resp, held, err := s.txn(ctx,
		clientv3.Compare(clientv3.ModRevision(full), "=", modRev),
		clientv3.OpDelete(full),
		clientv3.OpGet(full, clientv3.WithKeysOnly()))
	if err != nil {
		return 0, writeErr("compare-and-delete", full, err)
	}
	if !held {
		return 0, s.notHeld("compare-and-delete", full)
	}
	if !resp.Succeeded {
		return 0, conflict("compare-and-delete", full, modRev, resp)
	}
	return resp.Header.Revision, nil
}

// currentModRev reads the mod revision from a failed txn's Else OpGet; 0 if
// the key is absent.
func currentModRev(resp *clientv3.TxnResponse) int64 {
	if len(resp.Responses) == 0 {
		return 0
	}
	if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
		return r.Kvs[0].ModRevision
	}
	return 0
}

func conflict(op, full string, want int64, resp *clientv3.TxnResponse) error {
	cur := currentModRev(resp)
	if cur == 0 {
		return fmt.Errorf("kv: %s %q: %w: expected mod revision %d, but the key is absent: %w", op, full, ErrConflict, want, ErrNotFound)
	}
	return fmt.Errorf("kv: %s %q: %w: expected mod revision %d, found %d; read the key again and decide anew", op, full, ErrConflict, want, cur)
}
