package coordtest

import (
	"context"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit/internal/starthook"
	"github.com/coordkit/coordkit/node"
)

// Member is one member of a Cluster. Stop, Kill and Restart keep its name,
// data directory and URLs, as a process restart on the same machine would.
type Member struct {
	c     *Cluster
	index int
	cfg   node.Config
	link  *Link
	relay *relay // carries the raft traffic of this member
	id    uint64

	mu   sync.Mutex
	node *node.Node // nil while stopped
}

func (m *Member) startNode() error {
	ctx := starthook.With(context.Background(), func(*embed.Etcd) {
		m.relay.setOpen(true)
		if m.link != nil {
			m.link.conns.setOpen(true)
		}
	})
	n, err := node.Start(ctx, m.cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.node, m.id = n, n.ID()
	m.mu.Unlock()
	return nil
}

// Index is the member's position in the cluster, from 0.
func (m *Member) Index() int { return m.index }

// Name is the member's etcd name.
func (m *Member) Name() string { return m.cfg.Name }

// ID is the member's etcd ID.
func (m *Member) ID() uint64 { return m.id }

// Node is the running member, or nil while it is stopped.
func (m *Member) Node() *node.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// Running reports whether the member is running.
func (m *Member) Running() bool { return m.Node() != nil }

// Link is the member's client link: the proxy its clients go through.
func (m *Member) Link() *Link { return m.link }

// Client is a gRPC client of this member alone, through its Link.
func (m *Member) Client() *clientv3.Client { return m.link.Client() }

// Endpoint is the address clients use to reach this member (its Link's).
func (m *Member) Endpoint() string { return m.link.Endpoint() }

// Stop stops the member gracefully (a leader hands leadership over first).
func (m *Member) Stop() { m.halt(false) }

// Kill stops the member abruptly, like a crash: no leadership hand-off.
// Its data on disk stays for Restart.
func (m *Member) Kill() { m.halt(true) }

func (m *Member) halt(hard bool) {
	m.mu.Lock()
	n := m.node
	m.node = nil
	m.mu.Unlock()
	if n == nil {
		return
	}
	// A stopped process takes its client connections down with it. Cut
	// them first: etcd's own stop otherwise waits, up to its request
	// timeout (over 5 s), for open streams such as watches to finish.
	if m.link != nil {
		m.link.conns.setOpen(false)
		m.link.conns.dropAll()
	}
	if hard {
		// A crash takes the peer connections down too, and peers cannot
		// reconnect to it (the relay reopens on Restart): etcd's stop
		// would otherwise wait a second for their new streams.
		m.relay.setOpen(false)
		m.relay.dropAll()
		n.Kill()
	} else {
		n.Close()
	}
	// With its connections cut, etcd's own wind-down is quick: wait for it,
	// so a test ends with no goroutine of the member left.
	<-n.Drained()
}

// Restart starts a stopped member again with its data and URLs; it returns
// once the member is ready (has caught up with the cluster's leader). It
// fails the test if the member cannot start.
//
// The restarted member is a new Node with a new in-process client: the old
// Node's client stays stopped, so whatever was held through it (leases,
// locks, terms, registrations) is lost, as in a restarted process.
func (m *Member) Restart() {
	m.c.t.Helper()
	if m.Running() {
		m.c.t.Fatalf("coordtest: restart member %s: it is running; Stop or Kill it first", m.cfg.Name)
	}
	if err := m.startNode(); err != nil {
		m.c.t.Fatalf("coordtest: restart member %s: %v", m.cfg.Name, err)
	}
}

// String names the member for test messages.
func (m *Member) String() string { return fmt.Sprintf("member %d (%s)", m.index, m.cfg.Name) }
