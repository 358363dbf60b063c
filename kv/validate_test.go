package kv_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
)

// panicCodec panics on every call: kv must turn that into ErrCodec.
type panicCodec struct{}

func (panicCodec) Encode(int) ([]byte, error) { panic("encode boom") }
func (panicCodec) Decode([]byte) (int, error) { panic("decode boom") }

func TestBadInputFailsBeforeSending(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[float64](n.Client(), "bad")
	require.NoError(t, err)
	rev0 := currentRev(t, n)

	// Every call rejects the empty key.
	noop := func(v float64, _ bool) (float64, error) { return v, nil }
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())
	for name, call := range map[string]func() error{
		"put":    func() error { _, err := s.Put(ctx, "", 1); return err },
		"swap":   func() error { _, _, err := s.Swap(ctx, "", 1); return err },
		"get":    func() error { _, err := s.Get(ctx, ""); return err },
		"create": func() error { _, err := s.Create(ctx, "", 1); return err },
		"delete": func() error { _, _, err := s.Delete(ctx, ""); return err },
		"cas":    func() error { _, err := s.CompareAndSwap(ctx, "", 1, 1); return err },
		"cad":    func() error { _, err := s.CompareAndDelete(ctx, "", 1); return err },
		"update": func() error { _, err := s.Update(ctx, "", noop); return err },
		"bput":   func() error { _, err := b.Put(ctx, "", 1); return err },
		"bdel":   func() error { _, _, err := b.Delete(ctx, ""); return err },
	} {
		err := call()
		require.ErrorIs(t, err, kv.ErrInvalidName, name)
		require.Contains(t, err.Error(), `"bad/"`, name)
	}

	// JSON cannot encode NaN: ErrCodec naming the key, for every write.
	for name, call := range map[string]func() error{
		"put":    func() error { _, err := s.Put(ctx, "k", math.NaN()); return err },
		"swap":   func() error { _, _, err := s.Swap(ctx, "k", math.NaN()); return err },
		"create": func() error { _, err := s.Create(ctx, "k", math.NaN()); return err },
		"cas":    func() error { _, err := s.CompareAndSwap(ctx, "k", 0, math.NaN()); return err },
		"update": func() error {
			_, err := s.Update(ctx, "k", func(float64, bool) (float64, error) { return math.NaN(), nil })
			return err
		},
		"bput": func() error { _, err := b.Put(ctx, "k", math.NaN()); return err },
	} {
		err := call()
		require.ErrorIs(t, err, kv.ErrCodec, name)
		require.Contains(t, err.Error(), `"bad/k"`, name)
	}

	// A panicking codec is an error, not a crash.
	p, err := kv.New[int](n.Client(), "bad", kv.WithCodec[int](panicCodec{}))
	require.NoError(t, err)
	_, err = p.Put(ctx, "k", 1)
	require.ErrorIs(t, err, kv.ErrCodec)
	require.Contains(t, err.Error(), "encode boom")

	require.Equal(t, rev0, currentRev(t, n), "nothing was written")

	// Decoding a panicking codec's value.
	_, err = n.Client().Put(ctx, "bad/k", "1")
	require.NoError(t, err)
	_, err = p.Get(ctx, "k")
	require.ErrorIs(t, err, kv.ErrCodec)
	require.Contains(t, err.Error(), "decode boom")
	require.Contains(t, err.Error(), `"bad/k"`)

	// A cancelled context is reported before sending.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Put(cctx, "k", 1)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, kv.ErrUnknownOutcome)
	_, err = b.Put(cctx, "k", 1)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, kv.ErrUnknownOutcome)
}

func TestRequestSizeLimitMatchesEtcd(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[[]byte](n.Client(), "big", kv.WithCodec(kv.BytesCodec))
	require.NoError(t, err)

	// The largest value kv accepts for this key is accepted by etcd too.
	const key = "k"
	limit := kv.MaxRequestBytes - 1024 - len("big/"+key)
	_, err = s.Put(ctx, key, make([]byte, limit))
	require.NoError(t, err, "etcd accepts what kv lets through")
	_, err = s.Put(ctx, key, make([]byte, limit+1))
	require.ErrorIs(t, err, kv.ErrTooLarge)
	require.Contains(t, err.Error(), "request limit")

	// Past the server's own limit the request would be refused: show that
	// kv's check is what stops it, by raising kv's limit past etcd's.
	loose, err := kv.New[[]byte](n.Client(), "big", kv.WithCodec(kv.BytesCodec), kv.WithMaxRequestBytes(4*kv.MaxRequestBytes))
	require.NoError(t, err)
	_, err = loose.Put(ctx, key, make([]byte, kv.MaxRequestBytes+1))
	require.ErrorIs(t, err, kv.ErrTooLarge, "etcd's own refusal maps to ErrTooLarge")
	require.NotErrorIs(t, err, kv.ErrUnknownOutcome)

	// Keys too.
	long := strings.Repeat("x", kv.MaxRequestBytes)
	_, err = s.Get(ctx, long)
	require.ErrorIs(t, err, kv.ErrTooLarge)
	require.Less(t, len(err.Error()), 400, "the message cuts the key short")
	_, _, err = s.Delete(ctx, long)
	require.ErrorIs(t, err, kv.ErrTooLarge)

	// A smaller configured limit applies.
	tight, err := kv.New[[]byte](n.Client(), "big", kv.WithCodec(kv.BytesCodec), kv.WithMaxRequestBytes(8192))
	require.NoError(t, err)
	_, err = tight.Put(ctx, key, make([]byte, 8000))
	require.ErrorIs(t, err, kv.ErrTooLarge)
}

func currentRev(t *testing.T, n interface{ Client() *clientv3.Client }) int64 {
	t.Helper()
	resp, err := n.Client().Get(context.Background(), "rev-probe")
	require.NoError(t, err)
	return resp.Header.Revision
}
