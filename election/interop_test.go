package election_test

import (
	"bufio"
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
)

// coordkit and etcd's concurrency.Election (what `etcdctl elect` uses) run
// the same elections and see each other's leaders.
func TestInteropWithConcurrencyElection(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.NewClient(t)
	ctx := context.Background()
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
	require.NoError(t, err)
	defer s.Close()
	ce := concurrency.NewElection(s, "president")
	require.NoError(t, ce.Campaign(ctx, "etcd"))

	e := newElection(t, n.Client(), "president")
	events := e.Observe(t.Context())
	ld, err := e.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, election.Leader{Key: ce.Key(), Value: "etcd", Token: ce.Rev()}, ld)
	require.Equal(t, ld, recv(t, events).Leader)

	require.NoError(t, ce.Proclaim(ctx, "etcd2"))
	require.Equal(t, "etcd2", recv(t, events).Leader.Value)

	tc := campaignAsync(t, ctx, e, "coordkit")
	waitCandidates(t, cli, "president", 2)
	require.NoError(t, ce.Resign(ctx))
	r := recv(t, tc)
	require.NoError(t, r.err)
	require.Equal(t, "coordkit", recv(t, events).Leader.Value)

	resp, err := ce.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, r.term.Key(), string(resp.Kvs[0].Key))
	require.Equal(t, "coordkit", string(resp.Kvs[0].Value))
	require.Equal(t, r.term.Token(), resp.Kvs[0].CreateRevision)

	obs := ce.Observe(t.Context())
	require.Equal(t, "coordkit", string((<-obs).Kvs[0].Value))
	require.NoError(t, r.term.Proclaim(ctx, "coordkit2"))
	require.Equal(t, "coordkit2", string((<-obs).Kvs[0].Value))

	// An etcd candidate queues behind the coordkit leader.
	ce2 := concurrency.NewElection(s, "president")
	cerr := make(chan error, 1)
	go func() { cerr <- ce2.Campaign(ctx, "etcd again") }()
	waitCandidates(t, cli, "president", 2)
	requireBlocked(t, cerr)
	require.NoError(t, r.term.Resign(ctx))
	require.NoError(t, recv(t, cerr))
	// The proclaimed "coordkit2" may still be waiting in events, or already
	// replaced by the newer state (Observe coalesces): either way the
	// latest state arrives.
	for ev := recv(t, events); ev.Leader.Value != "etcd again"; ev = recv(t, events) {
		require.Equal(t, "coordkit2", ev.Leader.Value, "only the last state before the hand-over may come first")
	}
	require.NoError(t, ce2.Resign(ctx))
	require.True(t, recv(t, events).Vacant)
}

// The real etcdctl: `etcdctl elect -l NAME` sees a coordkit leader, and an
// `etcdctl elect NAME VALUE` candidate is seen by coordkit.
func TestInteropWithEtcdctl(t *testing.T) {
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl not installed (Debian package etcd-client)")
	}
	n := coordtest.NewServer(t, coordtest.WithFullAccess("runs etcdctl against Endpoints"))
	ctx := context.Background()
	etcdctl := func(args ...string) (*exec.Cmd, <-chan string) {
		cmd := exec.Command(path, append([]string{"--endpoints=" + n.Endpoints()[0]}, args...)...)
		cmd.Env = append(cmd.Environ(), "ETCDCTL_API=3")
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			for range lines {
			}
			_ = cmd.Wait()
		})
		return cmd, lines
	}
	waitLine := func(lines <-chan string, want string) {
		t.Helper()
		deadline := time.After(wait)
		for {
			select {
			case l, ok := <-lines:
				require.True(t, ok, "etcdctl exited before printing %q", want)
				if l == want {
					return
				}
			case <-deadline:
				t.Fatalf("etcdctl did not print %q", want)
			}
		}
	}

	e := newElection(t, n.Client(), "president")
	events := e.Observe(t.Context())
	require.True(t, recv(t, events).Vacant)
	_, listen := etcdctl("elect", "-l", "president")
	term := campaign(t, e, "coordkit")
	waitLine(listen, term.Key())
	waitLine(listen, "coordkit")
	require.Equal(t, "coordkit", recv(t, events).Leader.Value)

	candidate, elected := etcdctl("elect", "president", "etcdctl")
	waitCandidates(t, n.Client(), "president", 2)
	require.NoError(t, term.Resign(ctx))
	waitLine(elected, "etcdctl")
	waitLine(listen, "etcdctl")
	require.Equal(t, "etcdctl", recv(t, events).Leader.Value)

	// etcdctl resigns on SIGINT: nobody leads.
	require.NoError(t, candidate.Process.Signal(syscall.SIGINT))
	require.True(t, recv(t, events).Vacant)
}
