// Command discovery shows service discovery end to end, in one process,
// on an embedded etcd member (no setup needed):
//
//	go run ./examples/discovery
//
// Two gRPC servers, alpha and beta, register as the service "greeter"; a
// gRPC client dialled to "coordkit:///greeter" balances calls across them.
// Then beta drains (the client stops choosing it), deregisters and stops,
// and the client carries on with alpha alone. Someone deletes alpha's key
// by hand; its registration puts it back. The program prints what happens
// and exits.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/node"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "discovery:", err)
		os.Exit(1)
	}
}

// server is one gRPC server of the greeter service.
type server struct {
	name string
	addr string
	srv  *grpc.Server
	done chan struct{}
}

func startServer(name string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{name: name, addr: ln.Addr().String(), srv: grpc.NewServer(), done: make(chan struct{})}
	healthpb.RegisterHealthServer(s.srv, health.NewServer())
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *server) stop() { s.srv.GracefulStop(); <-s.done }

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := slog.New(slog.NewTextHandler(io.Discard, nil)) // the printed story is enough

	node, err := node.Start(ctx, node.Config{
		Name:          "discovery-demo",
		ClientURLs:    []string{"http://127.0.0.1:0"},
		PeerURLs:      []string{"http://127.0.0.1:0"},
		UnsafeNoFsync: true,
		Logger:        logs,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	cli := node.Client()

	// Two servers register. The ID is stable (their name): a restarted
	// server replaces its old entry instead of appearing twice.
	names := map[string]string{} // address -> server name
	regs := map[string]*discovery.Registration{}
	servers := map[string]*server{}
	for _, name := range []string{"alpha", "beta"} {
		s, err := startServer(name)
		if err != nil {
			return err
		}
		defer s.stop()
		servers[name], names[s.addr] = s, name
		reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "greeter", ID: name, Addr: s.addr, Version: "v1"},
			discovery.WithTTL(2*time.Second), discovery.WithLogger(logs))
		if err != nil {
			return err
		}
		defer reg.Close(context.Background())
		regs[name] = reg
		fmt.Fprintf(out, "%s serves on %s, registered as %s\n", name, s.addr, reg.Key())
	}
	fmt.Fprintln(out, "etcdctl get --prefix coordkit/services/greeter/ would show:")
	resp, err := cli.Get(ctx, "coordkit/services/greeter/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		fmt.Fprintf(out, "  %s %s\n", kv.Key, kv.Value)
	}

	// A client of the service: gRPC resolves coordkit:///greeter through
	// etcd and balances round robin over the instances.
	b, err := discovery.NewResolverBuilder(cli, discovery.WithLogger(logs))
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient("coordkit:///greeter",
		grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		return err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	call := func() (string, error) {
		var p peer.Peer
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		if _, err := hc.Check(cctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true)); err != nil {
			return "", err
		}
		return names[p.Addr.String()], nil
	}
	// calls makes n calls until want(servers of the last n) holds.
	calls := func(n int, what string, want func([]string) bool) ([]string, error) {
		var last []string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			who, err := call()
			if err != nil {
				return nil, err
			}
			if last = append(last, who); len(last) > n {
				last = last[1:]
			}
			if len(last) == n && want(last) {
				return last, nil
			}
		}
		return nil, fmt.Errorf("calls never %s: last ones went to %v", what, last)
	}

	// Once gRPC has connected to both, round robin alternates.
	served, err := calls(6, "balanced across both servers", func(s []string) bool {
		n := 0
		for _, who := range s {
			if who == "alpha" {
				n++
			}
		}
		return n == 3 && !slices.Contains(s, "")
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "6 calls served by: %s\n", strings.Join(sorted(served), " "))

	// beta drains: the resolver drops it, calls go to alpha while beta
	// finishes its work; then beta deregisters and stops.
	fmt.Fprintln(out, "beta drains, deregisters and stops")
	if err := regs["beta"].Drain(ctx, 300*time.Millisecond); err != nil {
		return err
	}
	servers["beta"].stop()
	served, err = calls(6, "settled on alpha", func(s []string) bool { return !slices.Contains(s, "beta") })
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "6 calls served by: %s\n", strings.Join(sorted(served), " "))

	// Someone deletes alpha's key; its registration puts it back.
	changes := regs["alpha"].States()
	del, err := cli.Delete(ctx, regs["alpha"].Key())
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "alpha's key deleted by hand (etcdctl del)")
	for change := range changes {
		if change.State == discovery.Lost {
			fmt.Fprintf(out, "alpha: lost: %v\n", change.Err)
		}
		if change.State == discovery.Registered && change.Revision > del.Header.Revision {
			fmt.Fprintln(out, "alpha: registered again")
			break
		}
	}
	if _, err := calls(3, "reached alpha", func(s []string) bool { return s[2] == "alpha" }); err != nil {
		return err
	}
	fmt.Fprintln(out, "the client still reaches alpha; done")
	return nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
