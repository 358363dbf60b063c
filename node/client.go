package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc"
	"go.etcd.io/etcd/server/v3/proxy/grpcproxy/adapter"

	"github.com/coordkit/coordkit/internal/etcderr"
)

// The in-process client (Node.Client) is etcd's v3client with two
// differences, both for safety:
//
//   - It is bound to its node's life: once the node stops (Close, Kill, or
//     on its own) every call fails at once with errClientRefused, without
//     reaching the server, and the streams open at that moment end (watch
//     and server streams through their context, lease keep-alives because
//     closing the client closes them and their Send is gated). etcd's
//     v3client keeps calling the stopped server, which still forwards lease
//     renewals to the raft leader: leases kept alive through it would
//     never expire.
//   - Watches use their own in-process transport (watchpipe.go), which
//     cannot deadlock when many watches are cancelled at once.
//
// With Config.ClientUser (or Auth), a third layer, nodeauth.go, wraps
// the gated services: it authenticates as that user against the member and
// puts the token in each call's context.
//
// Everything else is etcd's in-process adapters: requests are function calls.

// errClientRefused is what the in-process client of a stopped node answers,
// to every call: the request was not sent, so nothing was applied.
var errClientRefused = fmt.Errorf("%w: Node.Client() sends nothing once its node has stopped, so nothing was applied (%w); use a client of a running member, or of the restarted node",
	ErrStopped, etcderr.ErrClientStopped)

// clientGate closes the in-process client when its node stops.
type clientGate struct {
	stopped atomic.Bool
	ctx     context.Context // cancelled when the node stops: ends streams
	cancel  context.CancelCauseFunc
	client  *clientv3.Client
	once    sync.Once
}

// newNodeClient returns the in-process client of s and the gate that stops
// it. With a user, the client acts as that user once auth is enabled
// (nodeauth.go): the authentication layer wraps the gated services.
func newNodeClient(s *etcdserver.EtcdServer, user, password string) (*clientv3.Client, *clientGate) {
	g := &clientGate{}
	g.ctx, g.cancel = context.WithCancelCause(context.Background())
	// The client's own context derives from the gate's, so that once the
	// node stops, context.Cause of cli.Ctx() says so (etcderr.ClientClosed).
	c := clientv3.NewCtxClient(g.ctx, clientv3.WithZapLogger(s.Logger()))
	g.client = c

	svc := inProcessClients{
		KV:          &gatedKV{g: g, kv: adapter.KvServerToKvClient(v3rpc.NewQuotaKVServer(s))},
		Lease:       &gatedLease{g: g, lc: adapter.LeaseServerToLeaseClient(v3rpc.NewQuotaLeaseServer(s))},
		Watch:       &pipeWatchClient{g: g, srv: v3rpc.NewWatchServer(s)},
		Maintenance: &gatedMaintenance{g: g, mc: adapter.MaintenanceServerToMaintenanceClient(v3rpc.NewMaintenanceServer(s, nil)), defrag: inProcessDefragment(s)},
		Cluster:     &gatedCluster{g: g, cc: adapter.ClusterServerToClusterClient(v3rpc.NewClusterServer(s))},
		Auth:        &gatedAuth{g: g, ac: adapter.AuthServerToAuthClient(v3rpc.NewAuthServer(s))},
	}
	if user != "" {
		svc = svc.authenticated(newNodeAuth(svc.Auth, user, password))
	}
	svc.assemble(c)
	return c, g
}

// stop makes the client refuse every call from now on, ends its open
// streams (watches, lease keep-alives) and closes it. Idempotent.
func (g *clientGate) stop() {
	g.once.Do(func() {
		g.stopped.Store(true)
		g.cancel(errClientRefused) // before Close, so the client's context has this cause
		g.client.Close()
	})
}

// refuse returns errClientRefused once the node has stopped, else nil.
func (g *clientGate) refuse() error {
	if g.stopped.Load() {
		return errClientRefused
	}
	return nil
}

// failed maps the error of a call that reached the server: one cut short
// because the node stopped says so, with ErrStopped, and keeps etcd's
// error. The call may have been applied.
func (g *clientGate) failed(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, ErrStopped) {
		return err
	}
	if g.stopped.Load() || etcderr.MemberStopped(err) {
		return fmt.Errorf("%w: %w while the request was in flight, so it may have been applied: %w", ErrStopped, etcderr.ErrMemberStopped, err)
	}
	return err
}

// streamContext derives the context of a stream from ctx: it also ends
// when the node stops.
func (g *clientGate) streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(g.ctx, cancel)
	// Unhook when the stream ends first, so that streams abandoned by
	// their callers leave nothing behind.
	context.AfterFunc(sctx, func() { unhook() })
	return sctx, cancel
}
