package election_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lease"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// etcd's peer /version handler can stay blocked forever on the
		// backend of a member killed mid-request (coordtest's Member.Kill):
		// a server goroutine, reported to coordtest, not one of this
		// package's.
		goleak.IgnoreAnyFunction("go.etcd.io/etcd/server/v3/etcdserver/api/etcdhttp.newPeerHandler.versionHandler.func1"))
}

// wait is the deadline for anything a test waits on; only reached on
// failure.
const wait = 15 * time.Second

func newElection(t *testing.T, cli *clientv3.Client, name string, opts ...election.Option) *election.Election {
	t.Helper()
	e, err := election.New(cli, name, opts...)
	require.NoError(t, err)
	return e
}

func campaign(t *testing.T, e *election.Election, value string) *election.Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	term, err := e.Campaign(ctx, value)
	require.NoError(t, err)
	t.Cleanup(func() { _ = term.Resign(context.Background()) })
	return term
}

// result is a Campaign's outcome.
type result struct {
	term *election.Term
	err  error
}

// campaignAsync campaigns in the background; its result arrives on the
// channel. A Term it yields is resigned when the test ends.
func campaignAsync(t *testing.T, ctx context.Context, e *election.Election, value string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		term, err := e.Campaign(ctx, value)
		ch <- result{term, err}
	}()
	t.Cleanup(func() {
		select {
		case r := <-ch:
			if r.term != nil {
				_ = r.term.Resign(context.Background())
			}
			ch <- r
		default:
		}
	})
	return ch
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("nothing received within %v", wait)
		var zero T
		return zero
	}
}

func requireBlocked[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %+v", v)
	default:
	}
}

// candidates returns the keys under the election's prefix, oldest first.
func candidates(t *testing.T, cli *clientv3.Client, name string) []string {
	t.Helper()
	resp, err := cli.Get(context.Background(), name+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	require.NoError(t, err)
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// waitCandidates waits until the election has n candidate keys.
func waitCandidates(t *testing.T, cli *clientv3.Client, name string, n int) []string {
	t.Helper()
	var keys []string
	require.Eventually(t, func() bool {
		keys = candidates(t, cli, name)
		return len(keys) == n
	}, wait, 5*time.Millisecond, "want %d candidates, have %v", n, keys)
	return keys
}

// leaseOf parses the lease ID out of a candidate key.
func leaseOf(t *testing.T, key string) clientv3.LeaseID {
	t.Helper()
	id, err := strconv.ParseInt(key[strings.LastIndex(key, "/")+1:], 16, 64)
	require.NoError(t, err)
	return clientv3.LeaseID(id)
}

func TestNewValidates(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	for _, tc := range []struct {
		name string
		cli  *clientv3.Client
		opts []election.Option
		want error
	}{
		{"", cli, nil, election.ErrInvalidName},
		{strings.Repeat("n", 2<<20), cli, nil, election.ErrInvalidName},
		{"e", nil, nil, election.ErrInvalidArgument},
		{"e", cli, []election.Option{election.WithTTL(500 * time.Millisecond)}, lease.ErrInvalidTTL},
		{"e", cli, []election.Option{election.WithLease(nil)}, election.ErrInvalidArgument},
	} {
		_, err := election.New(tc.cli, tc.name, tc.opts...)
		require.ErrorIs(t, err, tc.want)
	}
	_, err := election.New(cli, "e", election.WithTTL(500*time.Millisecond))
	require.Equal(t, `election: new "e": invalid lease TTL: WithTTL(500ms); use 1s or more (etcd counts lease time in whole seconds)`, err.Error())
	l, err := lease.Grant(context.Background(), cli, 5*time.Second)
	require.NoError(t, err)
	defer l.Close()
	_, err = election.New(cli, "e", election.WithTTL(3*time.Second), election.WithLease(l))
	require.ErrorIs(t, err, election.ErrInvalidArgument)

	e := newElection(t, cli, "e")
	big := strings.Repeat("v", 3<<19)
	_, err = e.Campaign(context.Background(), big)
	require.ErrorIs(t, err, election.ErrValueTooLarge)
	require.Empty(t, candidates(t, cli, "e"), "nothing sent")
	err = election.Run(context.Background(), cli, "e", big, election.Callbacks{})
	require.ErrorIs(t, err, election.ErrValueTooLarge)
	term := campaign(t, e, "small")
	require.ErrorIs(t, term.Proclaim(context.Background(), big), election.ErrValueTooLarge)
	require.Equal(t, "small", term.Value())
}

func TestCampaignProclaimResign(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	e := newElection(t, cli, "president")

	_, err := e.Leader(ctx)
	require.ErrorIs(t, err, election.ErrNoLeader)

	a := campaign(t, e, "a")
	require.NoError(t, a.Err())
	require.Equal(t, "president/"+strconv.FormatInt(int64(a.Lease().ID()), 16), a.Key())
	ld, err := e.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, election.Leader{Key: a.Key(), Value: "a", Token: a.Token()}, ld)

	require.NoError(t, a.Proclaim(ctx, "a2"))
	require.Equal(t, "a2", a.Value())
	ld, err = e.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, "a2", ld.Value)
	require.Equal(t, a.Token(), ld.Token, "a proclaim keeps the term")

	bc := campaignAsync(t, ctx, e, "b")
	waitCandidates(t, cli, "president", 2)
	requireBlocked(t, bc)

	require.NoError(t, a.Resign(ctx))
	<-a.Done()
	require.ErrorIs(t, a.Err(), election.ErrReleased)
	require.NoError(t, a.Resign(ctx), "Resign is idempotent")
	err = a.Proclaim(ctx, "again")
	require.ErrorIs(t, err, election.ErrNotHeld)
	require.ErrorIs(t, err, election.ErrReleased)

	b := recv(t, bc)
	require.NoError(t, b.err)
	require.Greater(t, b.term.Token(), a.Token())
	require.Equal(t, "b", b.term.Value())
	_, err = lease.TimeToLive(ctx, cli, a.Lease().ID(), false)
	require.ErrorIs(t, err, lease.ErrExpired, "a resigned term revokes the lease its campaign granted")

	require.NoError(t, b.term.Resign(ctx))
	_, err = e.Leader(ctx)
	require.ErrorIs(t, err, election.ErrNoLeader)
}
