package node_test

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

// BenchmarkWatchStorm opens 1,000 watches, cancels them all at once and
// waits until every channel closes, through Node.Client() and gRPC (etcd's
// v3client stalls for good).
func BenchmarkWatchStorm(b *testing.B) {
	n := coordtest.NewNode(b)
	for _, c := range benchClients(b, n) {
		if c.name != "v3client" { // it stalls for good (etcd issues 18879, 20716)
			b.Run(c.name, func(b *testing.B) {
				for range b.N {
					cancelStorm(b, c.cli(), 1000)
				}
			})
		}
	}
}

// BenchmarkWatchAlternated compares Node.Client()'s watch transport with
// etcd's in-process adapter (v3client) and with gRPC, the three taking turns
// in slices of the same run so that the machine's noise and the node's
// warm-up fall on all three alike. Puts go through v3client, so only the
// watch path differs.
//
//   - event: one watcher; a put, then its event.
//   - fanout100: 100 watchers of one key on one stream; a put, then its
//     event at every watcher.
//   - create-cancel: open a watch, wait until created, cancel it, wait until
//     its channel closes.
func BenchmarkWatchAlternated(b *testing.B) {
	n := coordtest.NewNode(b)
	writer := v3client.New(n.Etcd().Server)
	b.Cleanup(func() { writer.Close() })
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	defer cancel()
	clients := benchClients(b, n)
	clis := make([]*clientv3.Client, len(clients))
	chans := make([]clientv3.WatchChan, len(clients))
	fans := make([][]clientv3.WatchChan, len(clients))
	for i, c := range clients {
		clis[i] = c.cli()
		chans[i] = clis[i].Watch(ctx, "bench/alt/"+c.name, clientv3.WithCreatedNotify())
		<-chans[i]
		fans[i] = make([]clientv3.WatchChan, 100)
		for j := range fans[i] {
			fans[i][j] = clis[i].Watch(ctx, "bench/fan/"+c.name, clientv3.WithCreatedNotify())
			<-fans[i][j]
		}
	}
	ops := map[string]func(i, iter int){
		// one put (through v3client), then its event
		"event": func(i, _ int) {
			if _, err := writer.Put(ctx, "bench/alt/"+clients[i].name, "v"); err != nil {
				b.Fatal(err)
			}
			if resp := <-chans[i]; resp.Err() != nil || len(resp.Events) == 0 {
				b.Fatalf("watch: %v", resp.Err())
			}
		},
		"fanout100": func(i, _ int) {
			if _, err := writer.Put(ctx, "bench/fan/"+clients[i].name, "v"); err != nil {
				b.Fatal(err)
			}
			for _, wch := range fans[i] {
				if resp := <-wch; resp.Err() != nil || len(resp.Events) == 0 {
					b.Fatalf("watch: %v", resp.Err())
				}
			}
		},
		// open a watch, wait until created, cancel it, wait until closed
		"create-cancel": func(i, iter int) {
			wctx, cancel := context.WithCancel(ctx)
			wch := clis[i].Watch(wctx, fmt.Sprintf("bench/alt-cc/%d", iter), clientv3.WithCreatedNotify())
			if resp := <-wch; !resp.Created {
				b.Fatalf("watch not created: %v", resp.Err())
			}
			cancel()
			for range wch {
			}
		},
	}
	for _, name := range []string{"event", "fanout100", "create-cancel"} {
		op := ops[name]
		b.Run(name, func(b *testing.B) {
			took := make([]time.Duration, len(clients))
			slice := max(1, b.N/16)
			for done, turn := 0, 0; done < b.N; done, turn = done+slice, turn+1 {
				count := min(slice, b.N-done)
				for k := range clients {
					i := (k + turn) % len(clients)
					start := time.Now()
					for j := range count {
						op(i, done+j)
					}
					took[i] += time.Since(start)
				}
			}
			for i, c := range clients {
				b.ReportMetric(float64(took[i].Nanoseconds())/float64(b.N), c.name+"-ns/op")
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
