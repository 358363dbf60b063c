package discovery

import (
	"context"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/resolver"
)

// Scheme is the gRPC target scheme of NewResolverBuilder's resolvers:
// "coordkit:///<service>".
const Scheme = "coordkit"

// NewResolverBuilder returns a gRPC resolver.Builder for targets
// "coordkit:///<service>":
//
//	b, _ := discovery.NewResolverBuilder(cli)
//	conn, _ := grpc.NewClient("coordkit:///payments", grpc.WithResolvers(b), ...)
//
// Each resolver is a Watcher of the service, sharing the process's etcd
// watch of it. It gives gRPC the addresses of the available instances
// (draining ones are left out, so gRPC stops sending them new calls) as
// they change, reports errors with cc.ReportError (the first list failed,
// the cache is stale, no instance at all; gRPC keeps using a previous good
// list when it has one), and lists the service again when gRPC asks with
// ResolveNow (at most once a second: a request sooner is served when the
// second is up).
//
// gRPC balances with pick_first unless told otherwise; for round robin
// across instances dial with
// grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`).
//
// Options: WithNamespace, WithStaleAfter, WithLogger.
func NewResolverBuilder(cli *clientv3.Client, opts ...WatchOption) (resolver.Builder, error) {
	if cli == nil {
		return nil, fmt.Errorf("discovery: new resolver builder: %w: nil *clientv3.Client; pass the client from coordkit.Connect or node.Client", ErrInvalidArgument)
	}
	if _, err := watchOptions(opts); err != nil {
		return nil, fmt.Errorf("discovery: new resolver builder: %w", err)
	}
	return &builder{cli: cli, opts: opts}, nil
}

type builder struct {
	cli  *clientv3.Client
	opts []WatchOption
}

func (b *builder) Scheme() string { return Scheme }

func (b *builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service := target.Endpoint()
	if target.URL.Host != "" {
		return nil, fmt.Errorf("discovery: resolve %q: %w: the target has an authority; use %s:///<service> and WithNamespace for the key prefix", target.URL.String(), ErrInvalidName, Scheme)
	}
	w, err := Watch(context.Background(), b.cli, service, b.opts...)
	if err != nil {
		return nil, err
	}
	o, _ := watchOptions(b.opts) // checked by NewResolverBuilder
	r := &grpcResolver{w: w, cc: cc, done: make(chan struct{}), metrics: o.metrics}
	go r.run()
	return r, nil
}

type grpcResolver struct {
	w       *Watcher
	cc      resolver.ClientConn
	done    chan struct{}
	metrics *discoveryMetrics // nil: not measured
}

// run pushes every change of the Watcher to gRPC until Close.
func (r *grpcResolver) run() {
	defer close(r.done)
	var (
		pushed   bool
		addrs    []string
		reported string
	)
	report := func(err error) {
		if err != nil && err.Error() != reported {
			r.cc.ReportError(err)
		}
		if err == nil {
			reported = ""
		} else {
			reported = err.Error()
		}
	}
	for range r.w.Changes() {
		snap, err := r.w.Snapshot(), r.w.Err()
		if snap.Revision == 0 { // nothing loaded yet
			if err != errNotLoaded { // the first list failed: say why
				report(err)
			}
			continue
		}
		avail := snap.Available()
		next := make([]string, len(avail))
		for i, in := range avail {
			next[i] = in.Addr
		}
		if !pushed || !slices.Equal(addrs, next) {
			pushed, addrs = true, next
			_ = r.cc.UpdateState(state(avail)) // an empty list is refused; the error below says why
			if r.metrics != nil {
				r.metrics.resolverUpdates.Add(1)
			}
			if len(avail) == 0 && err == nil {
				err = fmt.Errorf("%w: service %q", ErrNoInstances, snap.Service)
				reported = "" // say it again after every update
			}
		}
		report(err)
	}
}

func state(avail []Instance) resolver.State {
	s := resolver.State{
		Endpoints: make([]resolver.Endpoint, len(avail)),
		Addresses: make([]resolver.Address, len(avail)),
	}
	for i, in := range avail {
		s.Addresses[i] = resolver.Address{Addr: in.Addr}
		s.Endpoints[i] = resolver.Endpoint{Addresses: []resolver.Address{s.Addresses[i]}}
	}
	return s
}

// ResolveNow lists the service again, at most once a second.
func (r *grpcResolver) ResolveNow(resolver.ResolveNowOptions) { r.w.resync() }

// Close stops the resolver's Watcher and waits for its goroutine.
func (r *grpcResolver) Close() {
	r.w.Close()
	<-r.done
}
