package interop_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lease"
)

func TestEndpointStatusMatchesNodeStatus(t *testing.T) {
	n := coordtest.NewNode(t)
	ctx := context.Background()
	_, err := n.Client().Put(ctx, "k", "v")
	require.NoError(t, err)
	st, err := n.Status(ctx)
	require.NoError(t, err)
	got := parseStatus(t, etcdctl(t, n.Endpoints()[0], "endpoint", "status", "-w", "json"))[0].Status
	require.Equal(t, st.MemberID, got.Header.MemberID)
	require.Equal(t, st.Leader, got.Leader)
	require.Equal(t, st.Revision, got.Header.Revision)
	require.Equal(t, st.Version, got.Version)
}

// The seed's lease session: coordkit grants and attaches, etcdctl inspects;
// etcdctl grants, coordkit opens and keeps alive.
func TestLeaseSeenByEtcdctlAndBack(t *testing.T) {
	n := coordtest.NewNode(t)
	ep := n.Endpoints()[0]
	ctx := context.Background()
	l, err := lease.Grant(ctx, n.Client(), 500*time.Second)
	require.NoError(t, err)
	defer l.Revoke(ctx)
	for _, k := range []string{"foo1", "foo2"} {
		_, err := n.Client().Put(ctx, k, "x", clientv3.WithLease(l.ID()))
		require.NoError(t, err)
	}
	out := etcdctl(t, ep, "lease", "timetolive", hexID(int64(l.ID())), "--keys")
	require.Contains(t, out, "granted with TTL(500s)")
	require.Contains(t, out, "foo1")
	require.Contains(t, out, "foo2")
	require.Contains(t, etcdctl(t, ep, "lease", "list"), hexID(int64(l.ID())))

	// `etcdctl lease grant 10` then coordkit takes the lease over.
	f := fields(etcdctl(t, ep, "lease", "grant", "10")) // lease 694d... granted with TTL(10s)
	require.Equal(t, "lease", f[0])
	id, err := parseHex(f[1])
	require.NoError(t, err)
	opened, err := lease.Open(ctx, n.Client(), clientv3.LeaseID(id))
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, opened.TTL())
	etcdctl(t, ep, "lease", "revoke", f[1])
	_, err = opened.KeepAliveOnce(ctx)
	require.ErrorIs(t, err, lease.ErrExpired)
	require.True(t, strings.Contains(etcdctl(t, ep, "lease", "timetolive", f[1]), "already expired"))
}

// `etcdctl watch --rev=N /foo` sees coordkit's writes from revision N on,
// and `etcdctl put --prev-kv` answers with what coordkit wrote before.
func TestWatchFromRevisionAndPrevKV(t *testing.T) {
	n := coordtest.NewNode(t)
	ep := n.Endpoints()[0]
	ctx := context.Background()
	first, err := n.Client().Put(ctx, "/foo", "one")
	require.NoError(t, err)
	_, err = n.Client().Put(ctx, "/foo", "two")
	require.NoError(t, err)
	lines := background(t, ep, "watch", "--rev="+itoa(first.Header.Revision), "/foo")
	for _, want := range []string{"PUT", "/foo", "one", "PUT", "/foo", "two"} {
		require.Equal(t, want, nextLine(t, lines))
	}
	out := etcdctl(t, ep, "put", "/foo", "three", "--prev-kv")
	require.Equal(t, []string{"OK", "/foo", "two"}, fields(out))
	for _, want := range []string{"PUT", "/foo", "three"} {
		require.Equal(t, want, nextLine(t, lines))
	}
}
