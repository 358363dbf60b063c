package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
)

// startCluster starts a cluster of n members in this process, closed when
// the test ends.
func startCluster(t *testing.T, n int, cfg node.Config) []*node.Node {
	t.Helper()
	nodes, err := node.StartCluster(context.Background(), n, cfg)
	require.NoError(t, err)
	for _, n := range nodes {
		t.Cleanup(func() { n.Close() })
	}
	return nodes
}

func TestStartClusterInOneProcessWithPortZero(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startCluster(t, 3, fast("s"))
	_, err := nodes[0].Client().Put(ctx, "shared", "yes")
	require.NoError(t, err)
	r, err := nodes[2].Client().Get(ctx, "shared")
	require.NoError(t, err)
	require.Equal(t, "yes", string(r.Kvs[0].Value))
	requireMembers(t, nodes, nodes)
	require.Equal(t, []string{"s0", "s1", "s2"}, []string{nodes[0].Name(), nodes[1].Name(), nodes[2].Name()})
}

func TestPortZeroForAnotherMemberIsRefusedWithTheWayOut(t *testing.T) {
	t.Parallel()
	cfg := fast("a")
	cfg.InitialCluster = map[string]string{"a": "http://127.0.0.1:0", "b": "http://127.0.0.1:0"}
	_, err := node.Start(context.Background(), cfg)
	require.ErrorIs(t, err, coordkit.ErrInvalidArgument)
	require.Contains(t, err.Error(), "StartCluster")
	require.Contains(t, err.Error(), "Join")

	_, err = node.StartCluster(context.Background(), 2, node.Config{ClientURLs: []string{"http://127.0.0.1:2379"}})
	require.ErrorIs(t, err, coordkit.ErrInvalidArgument)
}

// join starts a member that joins the cluster through endpoints.
func join(t *testing.T, name string, endpoints []string) *node.Node {
	t.Helper()
	cfg := fast(name)
	cfg.ReadyTimeout = 30 * time.Second // a join may wait out etcd's 5 s health interval
	cfg.Join = &coordkit.ClientConfig{Endpoints: endpoints}
	n, err := node.Start(context.Background(), cfg)
	require.NoError(t, err, "join %s", name)
	t.Cleanup(func() { n.Close() })
	return n
}

// requireMembers checks that every node in nodes sees exactly want as the
// cluster's voting members, and etcdctl too when it is installed.
func requireMembers(t *testing.T, nodes, want []*node.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ids []uint64
	for _, n := range want {
		ids = append(ids, n.ID())
	}
	slices.Sort(ids)
	for _, n := range nodes {
		ms, err := n.Members(ctx)
		require.NoError(t, err)
		var got []uint64
		for _, m := range ms {
			require.False(t, m.IsLearner, "member %x is still a learner", m.ID)
			require.NotEmpty(t, m.Name, "member %x never started", m.ID)
			got = append(got, m.ID)
		}
		slices.Sort(got)
		require.Equal(t, ids, got, "member list seen by %s", n.Name())
	}
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Log("etcdctl not installed: member list checked from Go only")
		return
	}
	for _, n := range nodes {
		out, err := exec.CommandContext(ctx, path, "--endpoints="+n.Endpoints()[0], "member", "list", "-w", "json").Output()
		require.NoError(t, err)
		var resp struct {
			Members []struct {
				ID        uint64 `json:"ID"`
				IsLearner bool   `json:"isLearner"`
			} `json:"members"`
		}
		require.NoError(t, json.Unmarshal(out, &resp), "%s", out)
		var got []uint64
		for _, m := range resp.Members {
			require.False(t, m.IsLearner)
			got = append(got, m.ID)
		}
		slices.Sort(got)
		require.Equal(t, ids, got, "etcdctl member list via %s", n.Name())
	}
}

func TestClusterGrowsOneThreeFiveAndShrinksToThreeWhileWritesGoOn(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("joins wait out etcd's 5 s health interval")
	}
	ctx := context.Background()
	n0 := start(t, fast("g0"))

	// Writers, through n0's in-process client and through gRPC, record
	// every write etcd acknowledged.
	remote, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n0.Endpoints()})
	require.NoError(t, err)
	defer remote.Close()
	var (
		mu    sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w, cli := range []*clientv3.Client{n0.Client(), remote} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("w%d/%06d", w, i)
				wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := cli.Put(wctx, key, strconv.Itoa(i))
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		}()
	}
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	n1 := join(t, "g1", n0.Endpoints())
	n2 := join(t, "g2", n0.Endpoints())
	three := []*node.Node{n0, n1, n2}
	requireMembers(t, three, three)

	// Later members join through any member's endpoint.
	n3 := join(t, "g3", n1.Endpoints())
	n4 := join(t, "g4", n2.Endpoints())
	five := append(slices.Clone(three), n3, n4)
	requireMembers(t, five, five)

	before := ackedNow()
	// One member leaves by itself; another is removed through a client,
	// retrying etcd's definite refusals, then closed.
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, n4.Leave(lctx))
	require.Eventually(t, func() bool {
		err = coordkit.RemoveMember(ctx, n0.Client(), n3.ID())
		require.True(t, err == nil || errors.Is(err, coordkit.ErrQuorumAtRisk), "%v", err)
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "remove %s: %v", n3.Name(), err)
	require.NoError(t, n3.Close())
	requireMembers(t, three, three)
	require.Eventually(t, func() bool { return ackedNow() > before+10 }, 10*time.Second, 10*time.Millisecond, "writes go on after the shrink")
	stop.Store(true)
	wg.Wait()

	// No acknowledged write is lost, on any remaining member.
	ctx, cancelReads := context.WithTimeout(ctx, 30*time.Second) // a hang guard
	defer cancelReads()
	mu.Lock()
	defer mu.Unlock()
	require.Greater(t, len(acked), 100)
	for _, n := range three {
		got := map[string]bool{}
		for _, prefix := range []string{"w0/", "w1/"} {
			r, err := n.Client().Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
			require.NoError(t, err)
			for _, kv := range r.Kvs {
				got[string(kv.Key)] = true
			}
		}
		for _, k := range acked {
			require.True(t, got[k], "acknowledged write %s missing on %s", k, n.Name())
		}
	}
}

func TestFailedJoinLeavesNoHalfAddedMember(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n0 := start(t, fast("f0"))

	// The learner is added, then its start fails: its client port is taken.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cfg := fast("f1")
	cfg.ClientURLs = []string{"http://" + busy.Addr().String()}
	cfg.Join = &coordkit.ClientConfig{Endpoints: n0.Endpoints()}
	_, err = node.Start(ctx, cfg)
	require.ErrorIs(t, err, node.ErrPortInUse)
	requireMembers(t, []*node.Node{n0}, []*node.Node{n0})

	// The learner starts but does not become ready in time.
	cfg = fast("f2")
	cfg.ReadyTimeout = time.Nanosecond
	cfg.Join = &coordkit.ClientConfig{Endpoints: n0.Endpoints()}
	_, err = node.Start(ctx, cfg)
	require.ErrorIs(t, err, node.ErrNotReady)
	requireMembers(t, []*node.Node{n0}, []*node.Node{n0})

	// After those failures a join succeeds.
	n1 := join(t, "f3", n0.Endpoints())
	requireMembers(t, []*node.Node{n0, n1}, []*node.Node{n0, n1})

	// Nothing to join through.
	cfg = fast("f4")
	cfg.Join = &coordkit.ClientConfig{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond}
	_, err = node.Start(ctx, cfg)
	require.ErrorIs(t, err, node.ErrJoin)
	require.ErrorIs(t, err, coordkit.ErrUnreachable)
}

func TestRemoveMemberRefusesLastMemberAndQuorumLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	solo := start(t, fast("r"))
	err := coordkit.RemoveMember(ctx, solo.Client(), solo.ID())
	require.ErrorIs(t, err, coordkit.ErrLastMember)
	require.ErrorIs(t, solo.Leave(ctx), coordkit.ErrLastMember)
	err = coordkit.RemoveMember(ctx, solo.Client(), 0x1234)
	require.ErrorIs(t, err, coordkit.ErrMemberNotFound)

	nodes := startCluster(t, 3, fast("q"))
	lead := leaderOf(t, nodes)
	var others []*node.Node
	for _, n := range nodes {
		if n != lead {
			others = append(others, n)
		}
	}
	require.NoError(t, others[0].Kill())
	// Removing the other follower would leave the leader alone with a dead
	// member: two voters, one alive, no quorum.
	err = coordkit.RemoveMember(ctx, lead.Client(), others[1].ID())
	require.ErrorIs(t, err, coordkit.ErrQuorumAtRisk)
	ms, err := lead.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 3, "a refused removal changes nothing")
	// Removing the dead member is safe, and allowed.
	require.NoError(t, coordkit.RemoveMember(ctx, lead.Client(), others[0].ID()))
	requireMembers(t, []*node.Node{lead, others[1]}, []*node.Node{lead, others[1]})
}

func leaderOf(t *testing.T, nodes []*node.Node) *node.Node {
	t.Helper()
	var lead *node.Node
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			st, err := n.Status(context.Background())
			if err == nil && st.IsLeader {
				lead = n
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	return lead
}
