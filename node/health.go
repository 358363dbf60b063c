package node

import (
	"context"
	"fmt"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/ops"
)

// DefaultHealthTimeout bounds the checks behind LivenessHandler and
// ReadinessHandler: Kubernetes' default probe timeout, one second.
const DefaultHealthTimeout = time.Second

// Live returns nil while this member serves: it has not stopped and
// answers a read from its own store. It does not need a quorum, so a
// member cut off from its peers is live (restarting it would not help) but
// not Ready. Errors wrap ErrStopped or ops.ErrUnhealthy.
func (n *Node) Live(ctx context.Context) error {
	if err := n.alive("live"); err != nil {
		return err
	}
	if _, err := n.client.Get(ctx, "health", clientv3.WithSerializable(), clientv3.WithCountOnly()); err != nil {
		if aerr := n.alive("live"); aerr != nil {
			return aerr
		}
		return fmt.Errorf("node: live %q: %w: local read failed: %w", n.Name(), ops.ErrUnhealthy, err)
	}
	return nil
}

// Ready returns nil when this member can do its job: it is Live, its
// cluster has a leader and answers a linearizable read through it, and no
// alarm (a full database, corruption) is raised. Errors wrap ErrStopped,
// ops.ErrNoLeader, ops.ErrAlarm (with ErrNoSpace for a full database) or
// ops.ErrUnhealthy.
func (n *Node) Ready(ctx context.Context) error {
	if err := n.Live(ctx); err != nil {
		return err
	}
	if n.etcd.Server.Leader() == 0 {
		return fmt.Errorf("node: ready %q: %w: raft knows no leader (quorum lost or an election in progress)", n.Name(), ops.ErrNoLeader)
	}
	if err := ops.ClusterHealth(ctx, n.client); err != nil {
		return fmt.Errorf("node: ready %q: %w", n.Name(), err)
	}
	return nil
}

// LiveCheck is Live as an ops.Check named "node".
func (n *Node) LiveCheck() ops.Check { return ops.CheckFunc("node", n.Live) }

// ReadyCheck is Ready as an ops.Check named "etcd".
func (n *Node) ReadyCheck() ops.Check { return ops.CheckFunc("etcd", n.Ready) }

// LivenessHandler serves a liveness probe for this member (see Live and
// ops.Handler for the answers): 200 while it serves, 503 once it stopped.
// Mount it, for example, on /livez.
func (n *Node) LivenessHandler() http.Handler {
	return ops.Handler(DefaultHealthTimeout, n.LiveCheck())
}

// ReadinessHandler serves a readiness probe: 200 when this member is Ready
// and every extra check passes (a registration registered, a Run loop
// campaigning or leading, a watcher current...), 503 otherwise, naming the
// failing checks. Mount it, for example, on /readyz.
func (n *Node) ReadinessHandler(checks ...ops.Check) http.Handler {
	return ops.Handler(DefaultHealthTimeout, append([]ops.Check{n.ReadyCheck()}, checks...)...)
}
