package apicheck_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/ops"
	"github.com/coordkit/coordkit/tlsconfig"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// misuse is one wrong call: pkg is the package whose error it is (and whose
// prefix the message must start with), want the one shared sentinel it
// must match.
type misuse struct {
	name string
	pkg  string
	want error
	call func(t *testing.T, env *env) error
}

// env is what the rows share: one embedded member and a client of it.
type env struct {
	ctx context.Context
	cli *clientv3.Client
}

const shortTTL = 500 * time.Millisecond

var svc = discovery.Instance{Service: "misuse", ID: "a", Addr: "127.0.0.1:1"}

// The same misuse gives the same sentinel in every package that accepts
// it, in one message shape: "<pkg>: ...", the prefix once.
func TestSameMisuseSameErrorEverywhere(t *testing.T) {
	n := coordtest.NewNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := &env{ctx: ctx, cli: n.Client()}

	rows := []misuse{
		// A nil client.
		{name: "kv.New(nil)", pkg: "kv", want: errs.InvalidArgument, call: func(*testing.T, *env) error {
			_, err := kv.New[int](nil, "p")
			return err
		}},
		{name: "lease.Grant(nil)", pkg: "lease", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := lease.Grant(e.ctx, nil, time.Second)
			return err
		}},
		{name: "lease.Open(nil)", pkg: "lease", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := lease.Open(e.ctx, nil, 1)
			return err
		}},
		{name: "lock.NewMutex(nil)", pkg: "lock", want: errs.InvalidArgument, call: func(*testing.T, *env) error {
			_, err := lock.NewMutex(nil, "m")
			return err
		}},
		{name: "election.New(nil)", pkg: "election", want: errs.InvalidArgument, call: func(*testing.T, *env) error {
			_, err := election.New(nil, "e")
			return err
		}},
		{name: "discovery.Register(nil)", pkg: "discovery", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := discovery.Register(e.ctx, nil, svc)
			return err
		}},
		{name: "discovery.Watch(nil)", pkg: "discovery", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := discovery.Watch(e.ctx, nil, "misuse")
			return err
		}},
		{name: "ops.ClusterHealth(nil)", pkg: "ops", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			return ops.ClusterHealth(e.ctx, nil)
		}},
		{name: "ops.ClusterCheck(nil).Check", pkg: "ops", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			return ops.ClusterCheck(nil).Check(e.ctx)
		}},
		{name: "ops.RunChecks(ClusterCheck(nil))", pkg: "ops", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := ops.RunChecks(e.ctx, ops.ClusterCheck(nil))
			return err
		}},
		{name: "ops.SaveSnapshot(nil)", pkg: "ops", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := ops.SaveSnapshot(e.ctx, nil, io.Discard)
			return err
		}},
		{name: "access.Apply(nil)", pkg: "access", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := access.Apply(e.ctx, nil, access.Spec{})
			return err
		}},
		{name: "coordkit.Members(nil)", pkg: "coordkit", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := coordkit.Members(e.ctx, nil)
			return err
		}},
		{name: "coordkit.EndpointStatus(nil)", pkg: "coordkit", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := coordkit.EndpointStatus(e.ctx, nil, "127.0.0.1:1")
			return err
		}},
		{name: "coordkit.AddLearner(nil)", pkg: "coordkit", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, _, err := coordkit.AddLearner(e.ctx, nil, []string{"http://127.0.0.1:1"})
			return err
		}},
		{name: "coordkit.PromoteMember(nil)", pkg: "coordkit", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			return coordkit.PromoteMember(e.ctx, nil, 1)
		}},
		{name: "coordkit.RemoveMember(nil)", pkg: "coordkit", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			return coordkit.RemoveMember(e.ctx, nil, 1)
		}},

		// A bad option or argument.
		{name: "kv.WithLease(0)", pkg: "kv", want: errs.InvalidArgument, call: func(t *testing.T, e *env) error {
			s, err := kv.New[int](e.cli, "misuse")
			require.NoError(t, err)
			_, err = s.Put(e.ctx, "k", 1, kv.WithLease(0))
			return err
		}},
		{name: "lease.Open(0)", pkg: "lease", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := lease.Open(e.ctx, e.cli, 0)
			return err
		}},
		{name: "tlsconfig.WithMinVersion(1)", pkg: "tlsconfig", want: errs.InvalidArgument, call: func(*testing.T, *env) error {
			_, err := tlsconfig.ClientFromPEM(tlsconfig.PEM{}, tlsconfig.WithMinVersion(1))
			return err
		}},

		// A nil lease to WithLease.
		{name: "lock.WithLease(nil)", pkg: "lock", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := lock.NewMutex(e.cli, "m", lock.WithLease(nil))
			return err
		}},
		{name: "election.WithLease(nil)", pkg: "election", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := election.New(e.cli, "e", election.WithLease(nil))
			return err
		}},
		{name: "discovery.WithLease(nil)", pkg: "discovery", want: errs.InvalidArgument, call: func(_ *testing.T, e *env) error {
			_, err := discovery.Register(e.ctx, e.cli, svc, discovery.WithLease(nil))
			return err
		}},

		// A TTL under one second.
		{name: "lease.Grant(500ms)", pkg: "lease", want: errs.InvalidTTL, call: func(_ *testing.T, e *env) error {
			_, err := lease.Grant(e.ctx, e.cli, shortTTL)
			return err
		}},
		{name: "lock.WithTTL(500ms)", pkg: "lock", want: errs.InvalidTTL, call: func(_ *testing.T, e *env) error {
			_, err := lock.NewMutex(e.cli, "m", lock.WithTTL(shortTTL))
			return err
		}},
		{name: "election.WithTTL(500ms)", pkg: "election", want: errs.InvalidTTL, call: func(_ *testing.T, e *env) error {
			_, err := election.New(e.cli, "e", election.WithTTL(shortTTL))
			return err
		}},
		{name: "discovery.WithTTL(500ms)", pkg: "discovery", want: errs.InvalidTTL, call: func(_ *testing.T, e *env) error {
			_, err := discovery.Register(e.ctx, e.cli, svc, discovery.WithTTL(shortTTL))
			return err
		}},
		{name: "coordkit.CheckLeaseTTL(500ms)", pkg: "coordkit", want: errs.InvalidTTL, call: func(*testing.T, *env) error {
			return coordkit.CheckLeaseTTL(shortTTL, time.Second)
		}},

		// An empty name.
		{name: "kv put empty key", pkg: "kv", want: errs.InvalidName, call: func(t *testing.T, e *env) error {
			s, err := kv.New[int](e.cli, "misuse")
			require.NoError(t, err)
			_, err = s.Put(e.ctx, "", 1)
			return err
		}},
		{name: `lock.NewMutex("")`, pkg: "lock", want: errs.InvalidName, call: func(_ *testing.T, e *env) error {
			_, err := lock.NewMutex(e.cli, "")
			return err
		}},
		{name: `election.New("")`, pkg: "election", want: errs.InvalidName, call: func(_ *testing.T, e *env) error {
			_, err := election.New(e.cli, "")
			return err
		}},
		{name: "discovery.Register(no service)", pkg: "discovery", want: errs.InvalidName, call: func(_ *testing.T, e *env) error {
			bad := svc
			bad.Service = ""
			_, err := discovery.Register(e.ctx, e.cli, bad)
			return err
		}},
		{name: `discovery.Watch("a/b")`, pkg: "discovery", want: errs.InvalidName, call: func(_ *testing.T, e *env) error {
			_, err := discovery.Watch(e.ctx, e.cli, "a/b")
			return err
		}},
		{name: `tlsconfig IssueServer("")`, pkg: "tlsconfig", want: errs.InvalidName, call: func(t *testing.T, _ *env) error {
			ca, err := tlsconfig.NewCA(t.TempDir())
			require.NoError(t, err)
			_, err = ca.IssueServer("")
			return err
		}},
		{name: "access role without a name", pkg: "access", want: errs.InvalidName, call: func(_ *testing.T, e *env) error {
			_, err := access.Apply(e.ctx, e.cli, access.Spec{Roles: []access.Role{{}}})
			return err
		}},

		// A handle used after Close.
		{name: "kv closed Batcher", pkg: "kv", want: errs.Closed, call: func(t *testing.T, e *env) error {
			s, err := kv.New[int](e.cli, "misuse")
			require.NoError(t, err)
			b, err := s.Batcher()
			require.NoError(t, err)
			require.NoError(t, b.Close(e.ctx))
			_, err = b.Put(e.ctx, "k", 1)
			return err
		}},
		{name: "lease closed", pkg: "lease", want: errs.Closed, call: func(t *testing.T, e *env) error {
			l, err := lease.Grant(e.ctx, e.cli, 5*time.Second)
			require.NoError(t, err)
			defer l.Revoke(e.ctx)
			l.Close()
			return l.Err()
		}},
		{name: "lock closed Mutex", pkg: "lock", want: errs.Closed, call: func(t *testing.T, e *env) error {
			m, err := lock.NewMutex(e.cli, "closed")
			require.NoError(t, err)
			require.NoError(t, m.Close(e.ctx))
			_, err = m.Lock(e.ctx)
			return err
		}},
		// election.Election owns nothing between calls (each Term owns its
		// key and lease), so it has no Close: nothing to misuse once closed.
		{name: "discovery closed Registration", pkg: "discovery", want: errs.Closed, call: func(t *testing.T, e *env) error {
			r, err := discovery.Register(e.ctx, e.cli, svc)
			require.NoError(t, err)
			require.NoError(t, r.Close(e.ctx))
			return r.Update(e.ctx, func(i *discovery.Instance) { i.Version = "2" })
		}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			checkMisuse(t, r.pkg, r.want, call(t, e, r.call))
		})
	}
}

// A nil option is ignored by every package: never a panic, never an error.
func TestNilOptionIsIgnoredEverywhere(t *testing.T) {
	n := coordtest.NewNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := &env{ctx: ctx, cli: n.Client()}
	for _, r := range []struct {
		name string
		call func(t *testing.T, e *env) error
	}{
		{"kv", func(t *testing.T, e *env) error {
			s, err := kv.New[int](e.cli, "nilopt", nil)
			require.NoError(t, err)
			_, err = s.Put(e.ctx, "k", 1, nil)
			require.NoError(t, err)
			_, err = s.Get(e.ctx, "k", nil)
			require.NoError(t, err)
			w, err := s.Watch(e.ctx, nil)
			require.NoError(t, err)
			w.Close()
			b, err := s.Batcher(nil)
			require.NoError(t, err)
			return b.Close(e.ctx)
		}},
		{"lease", func(t *testing.T, e *env) error {
			l, err := lease.Grant(e.ctx, e.cli, 5*time.Second, nil)
			require.NoError(t, err)
			return l.Revoke(e.ctx)
		}},
		{"lock", func(t *testing.T, e *env) error {
			m, err := lock.NewMutex(e.cli, "nilopt", nil)
			require.NoError(t, err)
			return m.Close(e.ctx)
		}},
		{"election", func(t *testing.T, e *env) error {
			_, err := election.New(e.cli, "nilopt", nil)
			require.NoError(t, err)
			_, err = election.NewRunner(e.cli, "nilopt", "v", election.Callbacks{}, nil)
			return err
		}},
		{"discovery", func(t *testing.T, e *env) error {
			w, err := discovery.Watch(e.ctx, e.cli, "nilopt", nil)
			require.NoError(t, err)
			w.Close()
			return nil
		}},
		{"ops", func(t *testing.T, e *env) error {
			_, err := ops.RecoverNoSpace(e.ctx, n.NewClient(t), nil)
			return err
		}},
		{"access", func(t *testing.T, e *env) error {
			_, err := access.Apply(e.ctx, nil, access.Spec{}, nil)
			require.ErrorIs(t, err, errs.InvalidArgument) // the nil client, not the option
			return nil
		}},
		{"tlsconfig", func(t *testing.T, _ *env) error {
			ca, err := tlsconfig.NewCA(t.TempDir(), nil)
			require.NoError(t, err)
			f, err := ca.IssueServer("n1", "127.0.0.1")
			require.NoError(t, err)
			_, err = tlsconfig.Server(f, nil)
			return err
		}},
	} {
		t.Run(r.name, func(t *testing.T) { require.NoError(t, call(t, e, r.call)) })
	}
}

// A kv write through the in-process client of a member that stopped is
// typed: ErrMemberStopped, and ErrRejected since it was never sent.
func TestWriteThroughStoppedMemberIsTyped(t *testing.T) {
	n := coordtest.NewNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := kv.New[int](n.Client(), "stopped")
	require.NoError(t, err)
	require.NoError(t, n.Kill())
	_, err = s.Put(ctx, "k", 1)
	checkMisuse(t, "kv", errs.MemberStopped, err)
	require.ErrorIs(t, err, errs.Rejected)
}

// A lease kept alive through the in-process client of a member that stops
// is lost with ErrMemberStopped (and lease.ErrClientStopped).
func TestLeaseThroughStoppedMemberIsTyped(t *testing.T) {
	n := coordtest.NewNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lease.Grant(ctx, n.Client(), 5*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	require.NoError(t, n.Kill())
	select {
	case <-l.Done():
	case <-ctx.Done():
		t.Fatal("the lease of a stopped member's client was not reported lost")
	}
	checkMisuse(t, "lease", errs.MemberStopped, l.Err())
	require.ErrorIs(t, l.Err(), lease.ErrClientStopped)
}

// The packages export the shared sentinels themselves, under the shared
// names.
func TestSharedSentinelsAreOneValue(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want error
	}{
		{"kv.ErrInvalidArgument", kv.ErrInvalidArgument, errs.InvalidArgument},
		{"kv.ErrInvalidName", kv.ErrInvalidName, errs.InvalidName},
		{"kv.ErrRejected", kv.ErrRejected, errs.Rejected},
		{"kv.ErrUnknownOutcome", kv.ErrUnknownOutcome, errs.UnknownOutcome},
		{"kv.ErrMemberStopped", kv.ErrMemberStopped, errs.MemberStopped},
		{"kv.ErrClosed", kv.ErrClosed, errs.Closed},
		{"kv.ErrNotHeld", kv.ErrNotHeld, errs.NotHeld},
		{"lease.ErrInvalidArgument", lease.ErrInvalidArgument, errs.InvalidArgument},
		{"lease.ErrInvalidTTL", lease.ErrInvalidTTL, errs.InvalidTTL},
		{"lease.ErrMemberStopped", lease.ErrMemberStopped, errs.MemberStopped},
		{"lease.ErrClosed", lease.ErrClosed, errs.Closed},
		{"tlsconfig.ErrInvalidArgument", tlsconfig.ErrInvalidArgument, errs.InvalidArgument},
		{"tlsconfig.ErrInvalidName", tlsconfig.ErrInvalidName, errs.InvalidName},
		{"ops.ErrInvalidArgument", ops.ErrInvalidArgument, errs.InvalidArgument},
		{"access.ErrInvalidArgument", access.ErrInvalidArgument, errs.InvalidArgument},
		{"access.ErrInvalidName", access.ErrInvalidName, errs.InvalidName},
		{"coordkit.ErrInvalidArgument", coordkit.ErrInvalidArgument, errs.InvalidArgument},
		{"coordkit.ErrInvalidTTL", coordkit.ErrInvalidTTL, errs.InvalidTTL},
		{"discovery.ErrInvalidArgument", discovery.ErrInvalidArgument, errs.InvalidArgument},
		{"discovery.ErrInvalidName", discovery.ErrInvalidName, errs.InvalidName},
		{"discovery.ErrInvalidTTL", discovery.ErrInvalidTTL, errs.InvalidTTL},
		{"discovery.ErrClosed", discovery.ErrClosed, errs.Closed},
		{"discovery.ErrRejected", discovery.ErrRejected, errs.Rejected},
		{"discovery.ErrUnknownOutcome", discovery.ErrUnknownOutcome, errs.UnknownOutcome},
		{"discovery.ErrMemberStopped", discovery.ErrMemberStopped, errs.MemberStopped},
		{"discovery.ErrLost", discovery.ErrLost, errs.Lost},
		{"discovery.ErrLeaseLost", discovery.ErrLeaseLost, errs.LeaseLost},
		{"lock.ErrInvalidArgument", lock.ErrInvalidArgument, errs.InvalidArgument},
		{"lock.ErrInvalidName", lock.ErrInvalidName, errs.InvalidName},
		{"lock.ErrInvalidTTL", lock.ErrInvalidTTL, errs.InvalidTTL},
		{"lock.ErrClosed", lock.ErrClosed, errs.Closed},
		{"lock.ErrRejected", lock.ErrRejected, errs.Rejected},
		{"lock.ErrUnknownOutcome", lock.ErrUnknownOutcome, errs.UnknownOutcome},
		{"lock.ErrNotHeld", lock.ErrNotHeld, errs.NotHeld},
		{"lock.ErrLost", lock.ErrLost, errs.Lost},
		{"lock.ErrReleased", lock.ErrReleased, errs.Released},
		{"lock.ErrLeaseLost", lock.ErrLeaseLost, errs.LeaseLost},
		{"election.ErrInvalidArgument", election.ErrInvalidArgument, errs.InvalidArgument},
		{"election.ErrInvalidName", election.ErrInvalidName, errs.InvalidName},
		{"election.ErrInvalidTTL", election.ErrInvalidTTL, errs.InvalidTTL},
		{"election.ErrRejected", election.ErrRejected, errs.Rejected},
		{"election.ErrUnknownOutcome", election.ErrUnknownOutcome, errs.UnknownOutcome},
		{"election.ErrNotHeld", election.ErrNotHeld, errs.NotHeld},
		{"election.ErrLost", election.ErrLost, errs.Lost},
		{"election.ErrReleased", election.ErrReleased, errs.Released},
		{"election.ErrLeaseLost", election.ErrLeaseLost, errs.LeaseLost},
		{"lock.ErrKeyDeleted", lock.ErrKeyDeleted, errs.KeyDeleted},
		{"election.ErrKeyDeleted", election.ErrKeyDeleted, errs.KeyDeleted},
		{"discovery.ErrKeyDeleted", discovery.ErrKeyDeleted, errs.KeyDeleted},
	} {
		if c.got != c.want {
			t.Errorf("%s is not the shared %q", c.name, c.want)
		}
	}
}

// call runs f, failing the test rather than the binary if it panics: bad
// input must never panic.
func call(t *testing.T, e *env, f func(*testing.T, *env) error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panicked instead of returning an error: %v", r)
		}
	}()
	return f(t, e)
}

// checkMisuse holds err to the scheme: it matches want, reads "<pkg>: ...",
// and names the package once.
func checkMisuse(t *testing.T, pkg string, want, err error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, want)
	msg, prefix := err.Error(), pkg+": "
	require.True(t, strings.HasPrefix(msg, prefix), "want the %q prefix first: %q", prefix, msg)
	require.Equal(t, 1, strings.Count(msg, prefix), "want the %q prefix once: %q", prefix, msg)
	require.NotContains(t, msg, prefix+prefix)
	// The sentinel says itself once, as one ": "-separated part: not
	// "invalid lease TTL: WithTTL(500ms): invalid lease TTL".
	require.Equal(t, 1, strings.Count(": "+msg, ": "+want.Error()), "want the sentinel's text once: %q", msg)
	require.False(t, errors.Is(err, errs.UnknownOutcome) && errors.Is(err, errs.Rejected), "a write is rejected or of unknown outcome, not both: %q", msg)
}
