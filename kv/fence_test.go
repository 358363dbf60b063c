package kv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lock"
)

// fencedWrite is one kind of kv write, made through a fenced store.
type fencedWrite struct {
	name  string
	write func(ctx context.Context, s *kv.Store[string], key string) error
}

// fencedWrites are every kind of write a store makes. Each writes under its
// own key (existing already, where the write needs it).
var fencedWrites = []fencedWrite{
	{"Put", func(ctx context.Context, s *kv.Store[string], key string) error {
		_, err := s.Put(ctx, key, "v")
		return err
	}},
	{"Swap", func(ctx context.Context, s *kv.Store[string], key string) error {
		_, _, err := s.Swap(ctx, key, "v")
		return err
	}},
	{"Create", func(ctx context.Context, s *kv.Store[string], key string) error {
		_, err := s.Create(ctx, key+"-new", "v")
		return err
	}},
	{"CompareAndSwap", func(ctx context.Context, s *kv.Store[string], key string) error {
		e, err := s.Get(ctx, key)
		if err != nil {
			return err
		}
		_, err = s.CompareAndSwap(ctx, key, e.ModRevision, "v")
		return err
	}},
	{"Update", func(ctx context.Context, s *kv.Store[string], key string) error {
		_, err := s.Update(ctx, key, func(old string, _ bool) (string, error) { return old + "+", nil })
		return err
	}},
	{"Delete", func(ctx context.Context, s *kv.Store[string], key string) error {
		existed, _, err := s.Delete(ctx, key)
		if err == nil && !existed {
			return errors.New("delete found no key")
		}
		return err
	}},
	{"CompareAndDelete", func(ctx context.Context, s *kv.Store[string], key string) error {
		e, err := s.Get(ctx, key)
		if err != nil {
			return err
		}
		_, err = s.CompareAndDelete(ctx, key, e.ModRevision)
		return err
	}},
	{"Batcher", func(ctx context.Context, s *kv.Store[string], key string) error {
		b, err := s.Batcher()
		if err != nil {
			return err
		}
		one, two := b.PutAsync(ctx, key, "v"), b.DeleteAsync(ctx, key+"-other")
		_, err1 := one.Wait(ctx)
		_, err2 := two.Wait(ctx)
		return errors.Join(err1, err2, b.Close(ctx))
	}},
}

// checkFencedWrites makes every kind of write through store.Fenced(f):
// while f holds they apply; after end() has really ended f they are
// refused with ErrNotHeld (a rejection) and nothing changes in etcd.
func checkFencedWrites(t *testing.T, cli *clientv3.Client, store *kv.Store[string], f kv.Fence, done func() <-chan struct{}, end func(), gone error) {
	ctx := ctxT(t)
	fs := store.Fenced(f)
	seed := func(round string) {
		for _, w := range fencedWrites {
			_, err := store.Put(ctx, round+w.name, "seed")
			require.NoError(t, err)
			_, err = store.Put(ctx, round+w.name+"-other", "seed")
			require.NoError(t, err)
		}
	}
	seed("held/")
	for _, w := range fencedWrites {
		require.NoError(t, w.write(ctx, fs, "held/"+w.name), "%s while the fence holds", w.name)
	}

	seed("ended/")
	end()
	before := snapshot(t, cli, store.Prefix())
	for _, w := range fencedWrites {
		err := w.write(ctx, fs, "ended/"+w.name)
		require.ErrorIs(t, err, kv.ErrNotHeld, w.name)
		require.ErrorIs(t, err, lock.ErrRejected, "%s: a refused fenced write is a rejection", w.name)
		require.NotErrorIs(t, err, kv.ErrUnknownOutcome, w.name)
	}
	// Once the end is known, refusals carry the fence's reason.
	select {
	case <-done():
	case <-ctx.Done():
		t.Fatal("the fence's end was not noticed")
	}
	_, err := fs.Put(ctx, "ended/Put", "again")
	require.ErrorIs(t, err, kv.ErrNotHeld)
	require.ErrorIs(t, err, gone)
	require.Equal(t, before, snapshot(t, cli, store.Prefix()), "nothing applied after the fence ended")
	_, err = store.Put(ctx, "ended/Put", "unfenced")
	require.NoError(t, err, "the store itself is not fenced")
}

// snapshot lists every key under pfx with its mod revision.
func snapshot(t *testing.T, cli *clientv3.Client, pfx string) []string {
	t.Helper()
	resp, err := cli.Get(context.Background(), pfx, clientv3.WithPrefix())
	require.NoError(t, err)
	out := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = fmt.Sprintf("%s@%d=%s", kv.Key, kv.ModRevision, kv.Value)
	}
	return out
}

// Writes fenced by a lock apply while it is held, and are refused once its
// lease has been revoked (by another client, as an operator would).
func TestFencedWritesUnderLock(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.NewClient(t)
	store, err := kv.New[string](cli, "fenced-lock", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	m, err := lock.NewMutex(cli, "fenced-lock-mutex")
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	h, err := m.Lock(ctxT(t))
	require.NoError(t, err)

	checkFencedWrites(t, n.Client(), store, h, h.Done, func() {
		_, err := n.Client().Revoke(context.Background(), h.Lease().ID())
		require.NoError(t, err)
	}, lock.ErrLost)
	require.NoError(t, h.Unlock(ctxT(t)))
}

// Writes fenced by a leadership term apply while it leads, and are refused
// once its leader key has been deleted (by another client).
func TestFencedWritesUnderTerm(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.NewClient(t)
	store, err := kv.New[string](cli, "fenced-term", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	e, err := election.New(cli, "fenced-term-election")
	require.NoError(t, err)
	term, err := e.Campaign(ctxT(t), "me")
	require.NoError(t, err)
	t.Cleanup(func() { _ = term.Resign(context.Background()) })

	checkFencedWrites(t, n.Client(), store, term, term.Done, func() {
		_, err := n.Client().Delete(context.Background(), term.Key())
		require.NoError(t, err)
	}, election.ErrLost)
}
