package discovery_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/node"
)

func startNode() (*node.Node, error) {
	return node.Start(context.Background(), node.Config{
		ClientURLs:    []string{"http://127.0.0.1:0"},
		PeerURLs:      []string{"http://127.0.0.1:0"},
		UnsafeNoFsync: true,
	})
}

// Two instances register; a client watches the service and picks
// instances in turn.
func Example() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	for _, addr := range []string{"10.0.0.1:8080", "10.0.0.2:8080"} {
		reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "payments", Addr: addr})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer reg.Close(ctx)
	}

	w, err := discovery.Watch(ctx, cli, "payments")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	if err := w.WaitReady(ctx); err != nil {
		fmt.Println(err)
		return
	}
	picker := discovery.NewRoundRobin(w)
	for range 3 {
		inst, done, err := picker.Pick()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("call", inst.Addr)
		done()
	}
	// Output:
	// call 10.0.0.1:8080
	// call 10.0.0.2:8080
	// call 10.0.0.1:8080
}

// A registration is a key any etcd tool can read, in the format of etcd's
// naming/endpoints package; States tells what happens to it.
func ExampleRegister() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	reg, err := discovery.Register(ctx, cli, discovery.Instance{
		Service: "payments",
		ID:      "payments-1",
		Addr:    "10.0.0.7:8080",
		Version: "v1.4.2",
		Zone:    "eu-west-1a",
	}, discovery.WithTTL(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}

	changes := reg.States() // from now on: starts with the current state

	// What `etcdctl get --prefix coordkit/services/` shows.
	resp, err := cli.Get(ctx, reg.Key())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n%s\n", resp.Kvs[0].Key, resp.Kvs[0].Value)

	// Someone deletes the key; the registration puts it back.
	if _, err := cli.Delete(ctx, reg.Key()); err != nil {
		fmt.Println(err)
		return
	}
	for change := range changes {
		fmt.Println(change.State)
		if change.State == discovery.Registered && change.Revision > resp.Header.Revision {
			break
		}
	}
	if err := reg.Close(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println(reg.State())
	// Output:
	// coordkit/services/payments/payments-1
	// {"Op":0,"Addr":"10.0.0.7:8080","Metadata":{"version":"v1.4.2","zone":"eu-west-1a"}}
	// registered
	// lost
	// registered
	// closed
}

// All of a process's registrations can ride one lease and one keep-alive.
func ExampleWithLease() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	l, err := lease.Grant(ctx, cli, 10*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	l.KeepAlive(ctx)
	defer l.Revoke(ctx)

	for _, service := range []string{"payments", "refunds"} {
		reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: service, Addr: "10.0.0.7:8080"}, discovery.WithLease(l))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer reg.Close(ctx)
	}
	info, err := l.TimeToLive(ctx, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	slices.Sort(info.Keys)
	fmt.Println(info.Keys)
	// Output: [coordkit/services/payments/10.0.0.7:8080 coordkit/services/refunds/10.0.0.7:8080]
}

// A watcher's cache changes as instances come and go; Diff tells what
// changed between two snapshots.
func ExampleWatch() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	w, err := discovery.Watch(ctx, cli, "payments")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	if err := w.WaitReady(ctx); err != nil {
		fmt.Println(err)
		return
	}
	before := w.Instances()

	reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:8080"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close(ctx)
	for range w.Changes() {
		if len(w.Instances()) > 0 {
			break
		}
	}
	added, removed, _ := discovery.Diff(before, w.Instances())
	fmt.Println("added", len(added), added[0].ID, "removed", len(removed))
	// Output: added 1 p1 removed 0
}

// Drain takes an instance out of rotation, then deregisters it.
func ExampleRegistration_Drain() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:8080"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := reg.Drain(ctx, 100*time.Millisecond); err != nil {
		fmt.Println(err)
	}
	fmt.Println(reg.Instance().Draining, reg.State())
	// Output: true closed
}

// gRPC resolves "coordkit:///<service>" to the registered instances and
// follows them as they change.
func ExampleNewResolverBuilder() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	// A gRPC server, registered.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	defer srv.Stop()
	reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "greeter", Addr: ln.Addr().String()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close(ctx)

	// A client of the service.
	b, err := discovery.NewResolverBuilder(cli)
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := grpc.NewClient("coordkit:///greeter",
		grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	var p peer.Peer
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, p.Addr.String() == ln.Addr().String())
	// Output: SERVING true
}

// Pickers work over any Source: a Watcher, or a fixed list.
func ExampleNewPowerOfTwo() {
	p := discovery.NewPowerOfTwo(discovery.Static{
		{ID: "a", Addr: "10.0.0.1:8080"},
		{ID: "b", Addr: "10.0.0.2:8080", Draining: true}, // never picked
	})
	inst, done, err := p.Pick()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done() // when the request ends
	fmt.Println(inst.ID)
	// Output: a
}
