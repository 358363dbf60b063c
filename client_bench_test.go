package coordkit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"

	"github.com/coordkit/coordkit/coordtest"
)

// benchClients are the three ways to reach one node: Node.Client(), etcd's
// own in-process v3client (what Node.Client() was before it was gated and
// given its own watch transport), and gRPC over loopback. Each call makes
// new v3client and gRPC clients: a v3client whose stream stalled (100
// watches cancelled at once suffice) must not stall the next benchmark.
func benchClients(b *testing.B, n *coordtest.Node) []struct {
	name string
	cli  func() *clientv3.Client
} {
	return []struct {
		name string
		cli  func() *clientv3.Client
	}{
		{"node-client", n.Client},
		{"v3client", func() *clientv3.Client {
			raw := v3client.New(n.Etcd().Server)
			b.Cleanup(func() { raw.Close() })
			return raw
		}},
		{"grpc", func() *clientv3.Client { return n.NewClient(b) }},
	}
}

// BenchmarkWatch compares Node.Client()'s watch transport with etcd's
// in-process adapter and with gRPC. Puts always go through etcd's v3client,
// so only the watch path differs.
//
//   - event: one watcher; a put, then its event (latency per put).
//   - fanout100: 100 watchers of one key on one stream; a put, then its event
//     at every watcher.
//   - create-cancel: open a watch, wait until created, cancel it, wait until
//     its channel closes.
//   - storm1000: open 1,000 watches, cancel them all at once, wait until
//     every channel closes (not for v3client, which stalls).
func BenchmarkWatch(b *testing.B) {
	n := coordtest.NewNode(b)
	writer := v3client.New(n.Etcd().Server)
	b.Cleanup(func() { writer.Close() })
	ctx := context.Background()
	for _, c := range benchClients(b, n) {
		b.Run("event/"+c.name, func(b *testing.B) {
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			defer cancel()
			key := "bench/event/" + c.name
			wch := c.cli().Watch(wctx, key, clientv3.WithCreatedNotify())
			<-wch
			b.ResetTimer()
			for range b.N {
				if _, err := writer.Put(ctx, key, "v"); err != nil {
					b.Fatal(err)
				}
				if resp := <-wch; resp.Err() != nil || len(resp.Events) == 0 {
					b.Fatalf("watch: %v", resp.Err())
				}
			}
		})
		b.Run("fanout100/"+c.name, func(b *testing.B) {
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			defer cancel()
			key := "bench/fanout/" + c.name
			cli := c.cli()
			chans := make([]clientv3.WatchChan, 100)
			for i := range chans {
				chans[i] = cli.Watch(wctx, key, clientv3.WithCreatedNotify())
				<-chans[i]
			}
			b.ResetTimer()
			for range b.N {
				if _, err := writer.Put(ctx, key, "v"); err != nil {
					b.Fatal(err)
				}
				for _, wch := range chans {
					if resp := <-wch; resp.Err() != nil || len(resp.Events) == 0 {
						b.Fatalf("watch: %v", resp.Err())
					}
				}
			}
		})
		if c.name != "v3client" { // it stalls for good (etcd issues 18879, 20716)
			b.Run("storm1000/"+c.name, func(b *testing.B) {
				for range b.N {
					stormOnce(b, c.cli(), 1000)
				}
			})
		}
		b.Run("create-cancel/"+c.name, func(b *testing.B) {
			// One watch stays open so the stream is kept between iterations.
			keep, stop := context.WithCancel(clientv3.WithRequireLeader(ctx))
			defer stop()
			cli := c.cli()
			<-cli.Watch(keep, "bench/keep", clientv3.WithCreatedNotify())
			b.ResetTimer()
			for i := range b.N {
				wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
				wch := cli.Watch(wctx, fmt.Sprintf("bench/cc/%d", i), clientv3.WithCreatedNotify())
				if resp := <-wch; !resp.Created {
					b.Fatalf("watch not created: %v", resp.Err())
				}
				cancel()
				for range wch {
				}
			}
		})
	}
}

// BenchmarkNodeClientOverV3Client alternates Node.Client() and etcd's
// v3client on the same node in one run, for the calls the gate sits in
// front of: the gate must cost nothing measurable.
func BenchmarkNodeClientOverV3Client(b *testing.B) {
	n := coordtest.NewNode(b, coordtest.WithFsync())
	raw := v3client.New(n.Etcd().Server)
	b.Cleanup(func() { raw.Close() })
	ctx := context.Background()
	lr, err := raw.Grant(ctx, 60)
	if err != nil {
		b.Fatal(err)
	}
	ops := map[string]func(cli *clientv3.Client, i int) error{
		"put": func(cli *clientv3.Client, i int) error {
			_, err := cli.Put(ctx, fmt.Sprintf("bench/put/%d", i%1024), "value")
			return err
		},
		"get-serializable": func(cli *clientv3.Client, i int) error {
			_, err := cli.Get(ctx, "bench/put/1", clientv3.WithSerializable())
			return err
		},
		"keepalive-once": func(cli *clientv3.Client, i int) error {
			_, err := cli.KeepAliveOnce(ctx, lr.ID)
			return err
		},
	}
	for _, name := range []string{"put", "get-serializable", "keepalive-once"} {
		op := ops[name]
		b.Run(name, func(b *testing.B) {
			slice := max(1, b.N/16)
			var nodeT, rawT time.Duration
			run := func(cli *clientv3.Client, from, count int) time.Duration {
				start := time.Now()
				for i := from; i < from+count; i++ {
					if err := op(cli, i); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start)
			}
			for done, turn := 0, 0; done < b.N; done, turn = done+slice, turn+1 {
				count := min(slice, b.N-done)
				if turn%2 == 0 {
					nodeT += run(n.Client(), done, count)
					rawT += run(raw, done, count)
				} else {
					rawT += run(raw, done, count)
					nodeT += run(n.Client(), done, count)
				}
			}
			b.ReportMetric(float64(nodeT.Nanoseconds())/float64(b.N), "node-client-ns/op")
			b.ReportMetric(float64(rawT.Nanoseconds())/float64(b.N), "v3client-ns/op")
			b.ReportMetric(rawT.Seconds()/nodeT.Seconds(), "node-client/v3client")
		})
	}
}

// stormOnce opens n watches, cancels them all at once and waits until every
// channel is closed.
func stormOnce(b *testing.B, cli *clientv3.Client, n int) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	chans := make([]clientv3.WatchChan, n)
	for i := range chans {
		chans[i] = cli.Watch(ctx, fmt.Sprintf("bench/storm/%d", i), clientv3.WithCreatedNotify())
	}
	for _, ch := range chans {
		if resp := <-ch; !resp.Created {
			b.Fatalf("watch not created: %v", resp.Err())
		}
	}
	cancel()
	timeout := time.After(time.Minute)
	for _, ch := range chans {
		for open := true; open; {
			select {
			case _, open = <-ch:
			case <-timeout:
				b.Fatal("cancelled watches never closed: the stream is stalled")
			}
		}
	}
}

// BenchmarkWatchEventAlternated is BenchmarkWatch's event case with the
// three transports taking turns in slices of the same run, so that the
// machine's noise and the node's warm-up fall on all three alike: one put
// (through v3client), then its event at a watcher of each transport.
func BenchmarkWatchEventAlternated(b *testing.B) {
	n := coordtest.NewNode(b)
	writer := v3client.New(n.Etcd().Server)
	b.Cleanup(func() { writer.Close() })
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	defer cancel()
	clients := benchClients(b, n)
	chans := make([]clientv3.WatchChan, len(clients))
	for i, c := range clients {
		chans[i] = c.cli().Watch(ctx, "bench/alt/"+c.name, clientv3.WithCreatedNotify())
		<-chans[i]
	}
	took := make([]time.Duration, len(clients))
	slice := max(1, b.N/16)
	b.ResetTimer()
	for done, turn := 0, 0; done < b.N; done, turn = done+slice, turn+1 {
		count := min(slice, b.N-done)
		for k := range clients {
			i := (k + turn) % len(clients)
			key := "bench/alt/" + clients[i].name
			start := time.Now()
			for range count {
				if _, err := writer.Put(ctx, key, "v"); err != nil {
					b.Fatal(err)
				}
				if resp := <-chans[i]; resp.Err() != nil || len(resp.Events) == 0 {
					b.Fatalf("watch: %v", resp.Err())
				}
			}
			took[i] += time.Since(start)
		}
	}
	for i, c := range clients {
		b.ReportMetric(float64(took[i].Nanoseconds())/float64(b.N), c.name+"-ns/op")
	}
}

// BenchmarkGetSerializable: Node.Client() and etcd's v3client as separate
// sub-benchmarks, for -count runs (BenchmarkNodeClientOverV3Client
// alternates them).
func BenchmarkGetSerializable(b *testing.B) {
	n := coordtest.NewNode(b)
	raw := v3client.New(n.Etcd().Server)
	b.Cleanup(func() { raw.Close() })
	ctx := context.Background()
	for _, c := range []struct {
		name string
		cli  *clientv3.Client
	}{{"node-client", n.Client()}, {"v3client", raw}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if _, err := c.cli.Get(ctx, "k", clientv3.WithSerializable()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
