package election_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
)

func countKeys(t *testing.T, cli *clientv3.Client, pfx string) int {
	t.Helper()
	resp, err := cli.Get(context.Background(), pfx, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	return int(resp.Count)
}

// Term.Do, Term.Txn and Proclaim apply only while the term leads. After a
// real loss (the leader key deleted by another client) etcd refuses them:
// not held and rejected, nothing applied, and the term ends with ErrLost.
func TestTermFencedWritesAfterLoss(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	term := campaign(t, newElection(t, n.NewClient(t), "fenced-term"), "a")

	_, err := term.Do(ctx, clientv3.OpPut("fenced-term-out/1", "x"))
	require.NoError(t, err)
	resp, err := term.Txn(ctx).If(clientv3.Compare(clientv3.Version("fenced-term-out/1"), "=", 0)).
		Then(clientv3.OpPut("fenced-term-out/never", "x")).
		Else(clientv3.OpPut("fenced-term-out/2", "x")).Commit()
	require.NoError(t, err)
	require.False(t, resp.Succeeded, "the inner condition failed, so Else ran")
	require.NoError(t, term.Proclaim(ctx, "b"))

	_, err = n.Client().Delete(ctx, term.Key())
	require.NoError(t, err)
	_, err = term.Do(ctx, clientv3.OpPut("fenced-term-out/3", "x"))
	require.ErrorIs(t, err, election.ErrNotHeld)
	require.ErrorIs(t, err, election.ErrRejected)
	require.ErrorIs(t, err, election.ErrLost, "the refusal carries the term's end")
	require.NotErrorIs(t, err, election.ErrUnknownOutcome)
	require.ErrorIs(t, term.Err(), election.ErrLost)
	select {
	case <-term.Done():
	default:
		t.Fatal("a refused fenced write ends the term")
	}

	err = term.Proclaim(ctx, "c")
	require.ErrorIs(t, err, election.ErrNotHeld)
	require.ErrorIs(t, err, election.ErrLost)
	require.Equal(t, 2, countKeys(t, n.Client(), "fenced-term-out/"), "nothing applied after the loss")
}

// After Resign, fenced writes are refused locally, wrapping ErrReleased.
func TestTermFencedWriteAfterResign(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	term := campaign(t, newElection(t, n.Client(), "fenced-resign"), "a")
	require.NoError(t, term.Resign(ctx))
	_, err := term.Do(ctx, clientv3.OpPut("fenced-resign-out", "x"))
	require.ErrorIs(t, err, election.ErrNotHeld)
	require.ErrorIs(t, err, election.ErrReleased)
	require.Zero(t, countKeys(t, n.Client(), "fenced-resign-out"))
}

// A Proclaim or fenced write cut off in flight (blackholed link) may have
// been applied: ErrUnknownOutcome, never a rejection, and not re-sent.
func TestTermWriteCutOffIsUnknownOutcome(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	term := campaign(t, newElection(t, link.Client(), "fenced-cut", election.WithTTL(30*time.Second)), "a")

	link.Blackhole()
	for name, write := range map[string]func(context.Context) error{
		"Proclaim": func(ctx context.Context) error { return term.Proclaim(ctx, "b") },
		"Do": func(ctx context.Context) error {
			_, err := term.Do(ctx, clientv3.OpPut("fenced-cut-out", "x"))
			return err
		},
	} {
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := write(dctx)
		cancel()
		require.ErrorIs(t, err, election.ErrUnknownOutcome, name)
		require.NotErrorIs(t, err, election.ErrRejected, name)
	}
	link.DropConnections()
	link.Unblackhole()
}

// Resign on a closed client is not sent: a rejection, nothing deleted; it
// can be retried once a client works again (here: the key simply expires).
func TestResignOnClosedClientIsRejected(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	cli := n.NewClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	e := newElection(t, cli, "resign-closed")
	term, err := e.Campaign(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, cli.Close())
	err = term.Resign(ctx)
	require.ErrorIs(t, err, election.ErrRejected)
	require.NotErrorIs(t, err, election.ErrUnknownOutcome)
	require.Equal(t, 1, countKeys(t, n.Client(), "resign-closed/"), "nothing deleted")
	require.Error(t, term.Err(), "the term is over (lost with its client, or released)")
}
