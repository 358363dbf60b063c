package discovery_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/v3/naming/endpoints"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
)

// etcd's naming/endpoints Manager lists coordkit registrations, and
// coordkit's watcher sees endpoints added through the Manager.
func TestEndpointsManagerInterop(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	reg := register(t, cli, discovery.Instance{
		Service: "payments", ID: "p1", Addr: "10.0.0.1:80",
		Version: "v1", Zone: "a", Weight: 2, Metadata: map[string]string{"team": "billing"},
	})

	em, err := endpoints.NewManager(cli, "coordkit/services/payments")
	require.NoError(t, err)
	eps, err := em.List(ctx)
	require.NoError(t, err)
	require.Len(t, eps, 1)
	ep := eps[reg.Key()]
	require.Equal(t, "10.0.0.1:80", ep.Addr)
	require.Equal(t, map[string]any{"version": "v1", "zone": "a", "weight": "2", "team": "billing"}, ep.Metadata)

	w := watch(t, n.NewClient(t), "payments")
	require.NoError(t, em.AddEndpoint(ctx, "coordkit/services/payments/ext-1", endpoints.Endpoint{
		Addr:     "10.0.0.9:80",
		Metadata: map[string]any{"zone": "b", "weight": 5, "draining": true, "owner": "ops", "limits": map[string]any{"qps": 100}},
	}))
	require.NoError(t, em.AddEndpoint(ctx, "coordkit/services/payments/ext-2", endpoints.Endpoint{Addr: "10.0.0.10:80", Metadata: "not an object"}))
	s := waitFor(t, w, "listing the Manager's endpoints", func(s discovery.Snapshot) bool { return len(s.Instances) == 3 })
	require.Equal(t, []string{"ext-1", "ext-2", "p1"}, ids(s.Instances))
	ext := s.Instances[0]
	require.Equal(t, discovery.Instance{
		Service: "payments", ID: "ext-1", Addr: "10.0.0.9:80", Zone: "b", Weight: 5, Draining: true,
		Metadata: map[string]string{"owner": "ops", "limits": `{"qps":100}`},
	}, ext)
	require.Equal(t, discovery.Instance{Service: "payments", ID: "ext-2", Addr: "10.0.0.10:80"}, s.Instances[1])
	require.Equal(t, discovery.Instance{
		Service: "payments", ID: "p1", Addr: "10.0.0.1:80", Version: "v1", Zone: "a", Weight: 2,
		Metadata: map[string]string{"team": "billing"},
	}, s.Instances[2], "what Register wrote reads back the same")
	require.Equal(t, []string{"ext-2", "p1"}, ids(s.Available()), "draining ext-1 is not available")

	require.NoError(t, em.DeleteEndpoint(ctx, "coordkit/services/payments/ext-1"))
	waitFor(t, w, "without ext-1", hasNot("ext-1"))

	// A key under the prefix that is not an endpoint is skipped, not fatal.
	_, err = cli.Put(ctx, "coordkit/services/payments/garbage", "{not json")
	require.NoError(t, err)
	reg2 := register(t, cli, discovery.Instance{Service: "payments", ID: "p2", Addr: "10.0.0.2:80"})
	s = waitFor(t, w, "listing p2", has(reg2.Instance().ID))
	require.Equal(t, []string{"ext-2", "p1", "p2"}, ids(s.Instances))
}
