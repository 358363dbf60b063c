// Command election is a leader election you can watch and break.
//
// In one process, on an embedded etcd member (no setup needed):
//
//	go run ./examples/election -local
//
// starts three candidates, then stops the leader gracefully (it resigns),
// crashes the next one (its keep-alives stop, nothing is resigned or
// revoked) and stops the last, printing who leads and how long each
// failover took, and exits.
//
// Against a running etcd cluster, in three terminals (ETCDCTL_ENDPOINTS and
// the other etcdctl variables say where; default 127.0.0.1:2379):
//
//	go run ./examples/election -value alice
//	go run ./examples/election -value bob
//	go run ./examples/election -value carol
//
// Each terminal campaigns and prints every change of leader. Press Ctrl-C
// in the leader's terminal: it resigns and another takes over at once. Kill
// it with kill -9 instead and the takeover waits for its lease to expire
// (-ttl). `etcdctl elect -l coordkit-demo` watches the same election.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/node"
)

func main() {
	local := flag.Bool("local", false, "run three candidates in this process on an embedded etcd member, stop the leaders one by one, and exit")
	name := flag.String("name", "coordkit-demo", "election name (etcd key prefix)")
	value := flag.String("value", defaultValue(), "this candidate's value, shown to observers")
	ttl := flag.Duration("ttl", 2*time.Second, "lease TTL: how long a crashed leader keeps leadership")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *local {
		err = runLocal(ctx, os.Stdout, *name, *ttl)
	} else {
		err = runCandidate(ctx, os.Stdout, *name, *value, *ttl)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "election:", err)
		os.Exit(1)
	}
}

func defaultValue() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// quiet is the library's log: warnings only, so the demo's output stays
// readable.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// clientLogLevel keeps the etcd clients' retry warnings (a crashed
// candidate's client fails every request) out of the demo's output.
var clientLogLevel = slog.LevelError

// runCandidate campaigns against the cluster the etcdctl environment
// variables name until ctx ends (Ctrl-C), then resigns.
func runCandidate(ctx context.Context, out io.Writer, name, value string, ttl time.Duration) error {
	out = &lockedWriter{w: out} // callbacks print from their own goroutines
	cfg, err := coordkit.ClientConfigFromEnv()
	if err != nil {
		return err
	}
	cli, err := coordkit.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	fmt.Fprintf(out, "[%s] campaigning in election %q at %s; Ctrl-C to stop\n", value, name, strings.Join(cfg.Endpoints, ","))
	err = election.Run(ctx, cli, name, value, election.Callbacks{
		OnElected: func(ctx context.Context, term *election.Term) {
			fmt.Fprintf(out, "[%s] ELECTED: term %d; Ctrl-C to resign\n", value, term.Token())
			<-ctx.Done() // lead until leadership ends
		},
		OnDemoted: func() { fmt.Fprintf(out, "[%s] no longer leading\n", value) },
		OnLeaderChange: func(ev election.Event) {
			fmt.Fprintf(out, "[%s] %s\n", value, describe(ev))
		},
	}, election.WithTTL(ttl), election.WithLogger(quiet))
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(out, "[%s] stopped\n", value)
		return nil
	}
	return err
}

func describe(ev election.Event) string {
	if ev.Vacant {
		return "nobody leads"
	}
	return fmt.Sprintf("leader: %s (term %d)", ev.Leader.Value, ev.Leader.Token)
}

// candidate is one of runLocal's campaigners, with a client of its own so
// that it can crash alone.
type candidate struct {
	name    string
	cli     *clientv3.Client
	stop    context.CancelFunc
	elected chan struct{} // a signal per OnElected
	done    chan struct{}
}

// runLocal runs three candidates on an embedded member and stops the
// leader three times: gracefully, by a crash, gracefully.
func runLocal(ctx context.Context, out io.Writer, name string, ttl time.Duration) error {
	out = &lockedWriter{w: out} // candidates print from their own goroutines
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	node, err := node.Start(ctx, node.Config{
		Name:       "election-demo",
		ClientURLs: []string{"http://127.0.0.1:0"},
		PeerURLs:   []string{"http://127.0.0.1:0"},
		Logger:     quiet,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	fmt.Fprintf(out, "embedded etcd member at %s; election %q, lease TTL %v\n", node.Endpoints()[0], name, ttl)

	observer, err := election.New(node.Client(), name)
	if err != nil {
		return err
	}
	events := observer.Observe(ctx)

	var wg sync.WaitGroup
	defer wg.Wait()
	cands := map[string]*candidate{}
	for _, v := range []string{"alice", "bob", "carol"} {
		cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: node.Endpoints(), Logger: quiet, LogLevel: &clientLogLevel})
		if err != nil {
			return err
		}
		defer cli.Close()
		cctx, stop := context.WithCancel(ctx)
		defer stop()
		c := &candidate{name: v, cli: cli, stop: stop, elected: make(chan struct{}, 1), done: make(chan struct{})}
		cands[v] = c
		wg.Go(func() {
			defer close(c.done)
			_ = election.Run(cctx, cli, name, v, election.Callbacks{
				OnElected: func(ctx context.Context, term *election.Term) {
					fmt.Fprintf(out, "  %s: elected, term %d\n", v, term.Token())
					c.elected <- struct{}{}
					<-ctx.Done()
					fmt.Fprintf(out, "  %s: leadership over: %v\n", v, term.Err())
				},
			}, election.WithTTL(ttl), election.WithLogger(quiet))
		})
	}

	// next waits for the first state that ok accepts.
	next := func(ok func(election.Event) bool) (election.Event, error) {
		for {
			select {
			case ev := <-events:
				if ok(ev) {
					return ev, nil
				}
			case <-ctx.Done():
				return election.Event{}, ctx.Err()
			}
		}
	}
	ev, err := next(func(ev election.Event) bool { return !ev.Vacant })
	if err != nil {
		return err
	}
	fmt.Fprintln(out, describe(ev))
	for i := range 3 {
		leader := cands[ev.Leader.Value]
		// Observers may learn of a leader a moment before the leader
		// itself does: stop it once it knows.
		select {
		case <-leader.elected:
		case <-ctx.Done():
			return ctx.Err()
		}
		start := time.Now()
		if i == 1 {
			fmt.Fprintf(out, "crashing %s: no resign, its lease expires after %v\n", leader.name, ttl)
			leader.cli.Close() // its keep-alives stop; etcd keeps the key until the lease expires
		} else {
			fmt.Fprintf(out, "stopping %s: it resigns\n", leader.name)
		}
		leader.stop()
		// The next leader; after the last candidate, nobody. (A candidate
		// still starting up may leave the election briefly vacant: wait on.)
		last := i == 2
		if ev, err = next(func(ev election.Event) bool {
			return (last && ev.Vacant) || (!ev.Vacant && ev.Leader.Value != leader.name)
		}); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s, %v after the leader stopped\n", describe(ev), time.Since(start).Round(100*time.Microsecond))
		<-leader.done
	}
	return nil
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
