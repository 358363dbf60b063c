package coordtest

import (
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.uber.org/zap"
)

// Link is a client's network path to one member: a TCP proxy (etcd's
// pkg/v3/proxy) whose faults a test switches on and off. Raft traffic
// between members does not pass through it; see Cluster.Partition for that.
type Link struct {
	srv      proxy.Server
	conns    *relay // between the proxy and the member, to drop connections
	endpoint string
	client   *clientv3.Client
}

func newLink(t testing.TB, target string) *Link {
	t.Helper()
	to, err := url.Parse(target)
	if err != nil {
		t.Fatalf("coordtest: link to %q: %v", target, err)
	}
	conns, err := newRelay()
	if err != nil {
		t.Fatalf("coordtest: link: %v", err)
	}
	conns.setTarget(to.Host)
	conns.setOpen(true)
	t.Cleanup(conns.close)
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("coordtest: link: %v", err)
		}
		from := url.URL{Scheme: "tcp", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		srv := proxy.NewServer(proxy.ServerConfig{
			Logger:        zap.NewNop(),
			From:          from,
			To:            url.URL{Scheme: "tcp", Host: conns.addr()},
			DialTimeout:   time.Second,
			RetryInterval: 10 * time.Millisecond,
		})
		select {
		case err := <-srv.Error():
			srv.Close()
			if attempt < 5 {
				continue // the port was taken between probe and bind
			}
			t.Fatalf("coordtest: link: %v", err)
		case <-srv.Ready():
		}
		l := &Link{srv: srv, conns: conns, endpoint: "http://" + from.Host}
		t.Cleanup(func() { srv.Close() })
		l.client = newClient(t, []string{l.endpoint})
		return l
	}
}

// Endpoint is the proxy's address, to give to clients that should be
// subject to this link's faults.
func (l *Link) Endpoint() string { return l.endpoint }

// Client is a gRPC client that reaches the member through this link.
func (l *Link) Client() *clientv3.Client { return l.client }

// Blackhole stops all traffic in both directions, as a pulled cable
// would: connections stay open and nothing gets through, on them or on new
// ones, until Unblackhole. Nothing is lost: as TCP would retransmit, held
// bytes flow once the link is back (use DropConnections to lose them).
func (l *Link) Blackhole() { l.srv.PauseTx(); l.srv.PauseRx() }

// Unblackhole lets traffic flow again.
func (l *Link) Unblackhole() { l.srv.UnpauseTx(); l.srv.UnpauseRx() }

// Delay adds latency (± a random variation) to traffic in both directions.
func (l *Link) Delay(latency, variation time.Duration) {
	l.srv.DelayTx(latency, variation)
	l.srv.DelayRx(latency, variation)
}

// Undelay removes added latency.
func (l *Link) Undelay() { l.srv.UndelayTx(); l.srv.UndelayRx() }

// PauseAccept stops accepting new connections; existing ones go on.
func (l *Link) PauseAccept() { l.srv.PauseAccept() }

// UnpauseAccept accepts new connections again.
func (l *Link) UnpauseAccept() { l.srv.UnpauseAccept() }

// DropConnections closes every open connection through the link, as a
// restarted router or a NAT timeout would; clients must reconnect.
func (l *Link) DropConnections() { l.conns.dropAll() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
