package coordtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/types"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/node"
)

// Cluster is a multi-member etcd cluster started for a test. Each member's
// client traffic passes through its own Link, so faults can be injected per
// member; raft traffic can be cut with Partition.
type Cluster struct {
	t       testing.TB
	members []*Member
	client  *clientv3.Client
	mu      sync.Mutex // guards partitions
	cuts    [][2]int
}

// NewCluster starts an n-member cluster, all members ready on return, and
// closes it when the test ends. When EnvEtcdBinary is set, the test is
// skipped instead, as with NewNode.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	skipIfExternal(t, "coordtest.NewCluster")
	if n < 1 {
		t.Fatalf("coordtest: NewCluster(%d): need at least one member", n)
	}
	o := defaults()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	c := startCluster(t, n, &o)
	eps := make([]string, n)
	for i, m := range c.members {
		m.link = newLink(t, m.cfg.ClientURLs[0])
		eps[i] = m.link.Endpoint()
	}
	c.client = newClient(t, eps)
	return c
}

// startCluster starts the members of an n-member cluster, without the
// client Links NewCluster adds, and kills them when the test ends.
func startCluster(t testing.TB, n int, o *options) *Cluster {
	t.Helper()
	logger := newTestLog(t, o.level)
	c := &Cluster{t: t}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = c.start(t, n, o, logger); err == nil || !errors.Is(err, node.ErrPortInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("coordtest: start %d-member cluster: %v", n, err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *Cluster) start(t testing.TB, n int, o *options, logger *slog.Logger) error {
	scheme := "http"
	if o.ca != nil {
		scheme = "https" // mutual TLS on client and peer ports
	}
	url := func(addr string) string { return scheme + "://" + addr }
	initial := map[string]string{}
	// One JWT key pair for the whole cluster, so a token any member issued
	// is valid at all of them once a test enables auth.
	jwtPriv, jwtPub, err := node.GenerateJWTKeys(tempDir(t))
	if err != nil {
		return err
	}
	c.members = make([]*Member, n)
	for i := range n {
		r, err := newRelay()
		if err != nil {
			return err
		}
		cport, err1 := freePort()
		pport, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			r.close()
			return err
		}
		peer := net.JoinHostPort("127.0.0.1", strconv.Itoa(pport))
		r.setTarget(peer)
		name := fmt.Sprintf("m%d", i)
		initial[name] = url(r.addr())
		cfg := o.nodeConfig(name)
		cfg.Logger = logger
		cfg.Dir = tempDir(t)
		cfg.ClientURLs = []string{url(net.JoinHostPort("127.0.0.1", strconv.Itoa(cport)))}
		cfg.PeerURLs = []string{url(peer)}
		cfg.AdvertisePeerURLs = []string{url(r.addr())}
		cfg.InitialCluster = initial
		cfg.JWTPrivateKeyFile, cfg.JWTPublicKeyFile = jwtPriv, jwtPub
		if o.ca != nil {
			if cfg.ClientTLS, cfg.PeerTLS, err = memberTLS(o.ca, name); err != nil {
				r.close()
				return err
			}
		}
		o.finish(&cfg)
		c.members[i] = &Member{c: c, index: i, cfg: cfg, relay: r}
	}
	// Members of a new cluster wait for each other: start them together.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.startNode()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.killAll()
		return err
	}
	return nil
}

// Client returns a gRPC client that knows every member (through their
// Links), like an application's client of a real cluster.
func (c *Cluster) Client() *clientv3.Client { return c.client }

// Endpoints returns the client endpoints of all members, through their
// Links.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.link.Endpoint()
	}
	return out
}

// Members returns the members, in index order.
func (c *Cluster) Members() []*Member { return c.members }

// Member returns member i (0-based).
func (c *Cluster) Member(i int) *Member { return c.members[i] }

// Size is the number of members.
func (c *Cluster) Size() int { return len(c.members) }

// WaitLeader waits until every running member agrees on a leader that is
// itself running, and returns that leader's index.
func (c *Cluster) WaitLeader(ctx context.Context) (int, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if i, ok := c.agreedLeader(); ok {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("coordtest: wait for leader: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (c *Cluster) agreedLeader() (int, bool) {
	var lead uint64
	for _, m := range c.members {
		n := m.Node()
		if n == nil {
			continue
		}
		l := uint64(n.Etcd().Server.Leader())
		if l == 0 || (lead != 0 && l != lead) {
			return -1, false
		}
		lead = l
	}
	for i, m := range c.members {
		if n := m.Node(); n != nil && n.ID() == lead {
			return i, true
		}
	}
	return -1, false
}

// Leader is WaitLeader with a 10 s deadline, failing the test if no leader
// emerges.
func (c *Cluster) Leader() int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	i, err := c.WaitLeader(ctx)
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	return i
}

// Partition cuts raft traffic, both ways, between the given members and all
// the others, as a network split would. Clients still reach every member;
// a member on the minority side can serve nothing linearizable. Heal
// undoes it. Restarting a member forgets its cuts.
func (c *Cluster) Partition(members ...int) {
	in := map[int]bool{}
	for _, i := range members {
		in[i] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for a := range c.members {
		for b := range c.members {
			if in[a] && !in[b] {
				c.cut(a, b)
				c.cut(b, a)
			}
		}
	}
}

func (c *Cluster) cut(from, to int) {
	src, dst := c.members[from].Node(), c.members[to].Node()
	if src == nil || dst == nil {
		return
	}
	src.Etcd().Server.CutPeer(types.ID(dst.ID()))
	c.cuts = append(c.cuts, [2]int{from, to})
}

// Heal mends every cut Partition made.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.cuts {
		src, dst := c.members[p[0]], c.members[p[1]]
		if sn := src.Node(); sn != nil {
			sn.Etcd().Server.MendPeer(types.ID(dst.id))
		}
	}
	c.cuts = nil
}

// close kills every member at once: a graceful stop would hand leadership
// around while peers disappear, which only costs time in a test.
func (c *Cluster) close() { c.killAll() }

func (c *Cluster) killAll() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		if m == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); m.Kill() }()
	}
	wg.Wait()
	for _, m := range c.members {
		if m != nil {
			m.relay.close()
		}
	}
}
