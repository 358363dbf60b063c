package discovery_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	etcdresolver "go.etcd.io/etcd/client/v3/naming/resolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
)

// serve starts a gRPC server with the health service on a free loopback
// port, stopped when the test ends.
func serve(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

func dial(t testing.TB, target string, b resolver.Builder) healthpb.HealthClient {
	t.Helper()
	cc, err := grpc.NewClient(target, grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobin))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	return healthpb.NewHealthClient(cc)
}

// servedBy makes one call and says which server answered.
func servedBy(t testing.TB, hc healthpb.HealthClient) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var p peer.Peer
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true))
	require.NoError(t, err)
	return p.Addr.String()
}

// callsUntil calls until cond holds on the set of servers of the last
// calls calls; it fails the test after wait.
func callsUntil(t testing.TB, hc healthpb.HealthClient, calls int, what string, cond func(map[string]int) bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	var window []string
	for time.Now().Before(deadline) {
		window = append(window, servedBy(t, hc))
		if len(window) > calls {
			window = window[1:]
		}
		seen := map[string]int{}
		for _, a := range window {
			seen[a]++
		}
		if len(window) == calls && cond(seen) {
			return
		}
	}
	t.Fatalf("calls never %s; last ones went to %v", what, window)
}

func TestGRPCResolverFollowsRegistrations(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	addrA, addrB := serve(t), serve(t)
	a := register(t, cli, discovery.Instance{Service: "greeter", ID: "a", Addr: addrA})
	register(t, cli, discovery.Instance{Service: "greeter", ID: "b", Addr: addrB})

	b, err := discovery.NewResolverBuilder(n.NewClient(t), quiet)
	require.NoError(t, err)
	require.Equal(t, "coordkit", b.Scheme())
	hc := dial(t, "coordkit:///greeter", b)
	callsUntil(t, hc, 10, "balanced across a and b", func(seen map[string]int) bool { return seen[addrA] > 0 && seen[addrB] > 0 })

	// Draining a: gRPC stops choosing it, while it still serves.
	require.NoError(t, a.Update(context.Background(), func(i *discovery.Instance) { i.Draining = true }))
	callsUntil(t, hc, 20, "all on b", func(seen map[string]int) bool { return seen[addrB] == 20 })

	// A new instance is picked up live.
	addrC := serve(t)
	register(t, cli, discovery.Instance{Service: "greeter", ID: "c", Addr: addrC})
	callsUntil(t, hc, 10, "reaching c", func(seen map[string]int) bool { return seen[addrC] > 0 && seen[addrA] == 0 })
}

// etcd's own "etcd:///" resolver reads coordkit registrations.
func TestEtcdResolverReadsRegistrations(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	addr := serve(t)
	register(t, n.Client(), discovery.Instance{Service: "greeter", Addr: addr, Zone: "a"})
	b, err := etcdresolver.NewBuilder(n.Client())
	require.NoError(t, err)
	hc := dial(t, "etcd:///coordkit/services/greeter", b)
	require.Equal(t, addr, servedBy(t, hc))
}

// fakeConn is gRPC's side of a resolver, recording what it is told.
type fakeConn struct {
	mu     sync.Mutex
	states []resolver.State
	errs   []error
	wake   chan struct{}
}

func newFakeConn() *fakeConn { return &fakeConn{wake: make(chan struct{}, 1)} }

func (f *fakeConn) UpdateState(s resolver.State) error {
	f.mu.Lock()
	f.states = append(f.states, s)
	f.mu.Unlock()
	f.poke()
	return nil
}

func (f *fakeConn) ReportError(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
	f.poke()
}

func (f *fakeConn) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fakeConn) NewAddress([]resolver.Address)                        {}
func (f *fakeConn) ParseServiceConfig(string) *serviceconfig.ParseResult { return nil }

// await waits until cond holds on what the conn was told.
func (f *fakeConn) await(t testing.TB, what string, cond func(states []resolver.State, errs []error) bool) {
	t.Helper()
	timeout := time.After(wait)
	for {
		f.mu.Lock()
		ok := cond(f.states, f.errs)
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-f.wake:
		case <-timeout:
			f.mu.Lock()
			defer f.mu.Unlock()
			t.Fatalf("resolver never %s; states %v, errors %v", what, f.states, f.errs)
		}
	}
}

func addrsOf(s resolver.State) []string {
	var out []string
	for _, e := range s.Endpoints {
		out = append(out, e.Addresses[0].Addr)
	}
	return out
}

func build(t testing.TB, b resolver.Builder, target string, cc resolver.ClientConn) (resolver.Resolver, error) {
	u, err := url.Parse(target)
	require.NoError(t, err)
	r, err := b.Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
	if err == nil {
		t.Cleanup(r.Close)
	}
	return r, err
}

func TestResolverReportsErrorsAndResyncs(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	b, err := discovery.NewResolverBuilder(link.Client(), quiet, discovery.WithStaleAfter(200*time.Millisecond))
	require.NoError(t, err)

	_, err = build(t, b, "coordkit:///bad/name", newFakeConn())
	require.ErrorIs(t, err, discovery.ErrInvalidName)
	_, err = build(t, b, "coordkit://prod/payments", newFakeConn())
	require.ErrorIs(t, err, discovery.ErrInvalidName)
	_, err = discovery.NewResolverBuilder(link.Client(), discovery.WithStaleAfter(0))
	require.ErrorIs(t, err, discovery.ErrInvalidArgument)

	reg := register(t, n.Client(), discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"})
	cc := newFakeConn()
	r, err := build(t, b, "coordkit:///payments", cc)
	require.NoError(t, err)
	cc.await(t, "gave the address", func(s []resolver.State, _ []error) bool {
		return len(s) == 1 && len(addrsOf(s[0])) == 1 && addrsOf(s[0])[0] == "10.0.0.1:80"
	})

	// ResolveNow lists again: at once, or, right after a list, a second
	// later; never not at all.
	w := discovery.ResolverWatcher(r)
	before := discovery.Relists(w)
	r.ResolveNow(resolver.ResolveNowOptions{})
	require.Eventually(t, func() bool { return discovery.Relists(w) > before }, wait, 20*time.Millisecond)

	// A silent link: reported as stale, the addresses stay.
	link.Blackhole()
	cc.await(t, "reported the cache stale", func(_ []resolver.State, errs []error) bool {
		return len(errs) > 0 && errors.Is(errs[len(errs)-1], discovery.ErrStale)
	})
	link.Unblackhole()

	// No instance left: an empty list, and an error saying so.
	require.NoError(t, reg.Close(context.Background()))
	cc.await(t, "reported no instances", func(s []resolver.State, errs []error) bool {
		return len(s) > 0 && len(s[len(s)-1].Endpoints) == 0 && len(errs) > 0 && errors.Is(errs[len(errs)-1], discovery.ErrNoInstances)
	})
}
