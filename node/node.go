package node

import (
	"github.com/coordkit/coordkit/internal/backoff"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/internal/starthook"
	"github.com/coordkit/coordkit/internal/zaplog"
)

// Node is an etcd member running inside this process. It is safe for
// concurrent use. Close it when done; Close is idempotent.
type Node struct {
	cfg      Config
	etcd     *embed.Etcd
	client   *clientv3.Client
	gate     *clientGate // stops client when the node stops
	dir      string
	tempDir  bool
	lock     *os.File
	clients  []url.URL // real client URLs (port 0 resolved)
	peers    []url.URL // real advertised peer URLs
	logger   *slog.Logger
	done     chan struct{}
	drained  chan struct{} // closed when etcd's Close has finished after stop
	rpcs     *rpcTracker
	closeMu  sync.Mutex
	closed   bool
	errMu    sync.Mutex
	err      error
	watchers sync.WaitGroup
	quiet    atomic.Bool // silences etcd's logs once the node is closing
}

// Start starts an etcd member in this process and returns once it is
// ready to serve: its cluster has a leader and it has published itself. On
// any error nothing is left running, listening or locked.
//
// Errors wrap ErrInvalidArgument, ErrPortInUse, ErrDataDirInUse,
// ErrClusterMismatch, ErrNotReady, or ctx's error.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	// Port 0 is resolved by reserving free ports; another process can take a
	// reserved port before etcd binds it, so retry a few times.
	var lastErr error
	retry := backoff.New(joinRetry)
	for attempt := 0; attempt < 5; attempt++ {
		n, err := startNode(ctx, cfg)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if joinRaced(&cfg, err) {
			if werr := retry.Wait(ctx); werr != nil {
				break
			}
			continue
		}
		if !errors.Is(err, errRetryPorts) {
			break
		}
	}
	return nil, fmt.Errorf("node: start %q: %w", cfg.name(), lastErr)
}

// joinRaced says whether a join failed only because it came too early: the
// peer etcd asked for the cluster's members had not yet applied this
// member's addition ("member count is unequal"), or no member had yet
// decided the cluster's version, which a cluster's first member does just
// after it is ready (etcd then answers "incompatible with current running
// cluster"; a cluster that truly is incompatible keeps answering it and the
// last attempt reports it). The addition was undone, so joining again is
// safe.
func joinRaced(cfg *Config, err error) bool {
	if cfg.Join == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "member count is unequal") || strings.Contains(msg, "incompatible with current running cluster")
}

// errRetryPorts marks a bind failure on a port coordkit chose itself.
var errRetryPorts = errors.New("reserved port was taken")

func startNode(ctx context.Context, cfg Config) (_ *Node, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ec, plan, err := buildEmbedConfig(&cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, done: make(chan struct{}), drained: make(chan struct{}), logger: plan.logger, rpcs: newRPCTracker()}
	var unrestore func() // removes restored data if the start fails
	defer func() {
		if err != nil {
			n.release()
			if unrestore != nil {
				unrestore()
			}
		}
	}()

	n.dir, n.tempDir = cfg.Dir, cfg.Dir == ""
	if n.tempDir {
		if n.dir, err = os.MkdirTemp("", "coordkit-"+sanitize(cfg.name())+"-"); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	ec.Dir = n.dir
	if n.lock, err = lockDataDir(n.dir); err != nil {
		return nil, err
	}
	if err := configureTokens(ec, &cfg, n.dir); err != nil {
		return nil, err
	}

	if cfg.restoreFrom != "" {
		if unrestore, err = restoreSnapshot(cfg.restoreFrom, n.dir, ec, plan); err != nil {
			return nil, err
		}
	}

	var join *joiner
	if cfg.Join != nil && !hasData(n.dir) {
		// Adding the learner is bounded like readiness: a start with a
		// background ctx must not retry refusals forever.
		jctx, cancel := context.WithTimeout(ctx, cfg.readyTimeout())
		join, err = prepareJoin(jctx, &cfg, ec)
		cancel()
		if err != nil {
			if ctx.Err() == nil && jctx.Err() != nil {
				err = fmt.Errorf("%w within ReadyTimeout (%v): %w", ErrNotReady, cfg.readyTimeout(), err)
			}
			return nil, err
		}
		defer func() {
			if err != nil {
				if uerr := join.undo(ctx); uerr != nil {
					err = fmt.Errorf("%w; %w", err, uerr)
				}
			}
			join.close()
		}()
	}

	watch := newStartWatch()
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zaplog.New(plan.logger, plan.level, watch.hook, &n.quiet))
	ec.GRPCAdditionalServerOptions = append(ec.GRPCAdditionalServerOptions, n.rpcs.serverOptions()...)
	if cfg.Embed != nil {
		cfg.Embed(ec)
	}

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, classifyStartError(plan, err)
	}
	n.etcd = e
	n.clients = make([]url.URL, 0, len(e.Clients))
	for i, l := range e.Clients {
		u := ec.ListenClientUrls[min(i, len(ec.ListenClientUrls)-1)]
		u.Host = l.Addr().String()
		n.clients = append(n.clients, u)
	}
	n.peers = ec.AdvertisePeerUrls
	starthook.Call(ctx, e)

	timer := time.NewTimer(cfg.readyTimeout())
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case <-ctx.Done():
		return nil, ctx.Err()
	case err := <-e.Err():
		return nil, fmt.Errorf("etcd stopped while starting: %w", err)
	case <-e.Server.StopNotify():
		return nil, fmt.Errorf("%w: etcd stopped while starting (see its logs)", ErrNotReady)
	case <-watch.mismatchC:
		return nil, fmt.Errorf("%w: %s; check that every member has the same ClusterToken and InitialCluster, and that Dir holds no data of another cluster",
			ErrClusterMismatch, watch.mismatchReason())
	case <-timer.C:
		return nil, fmt.Errorf("%w after %v: waiting for a quorum of peers %s; check they are running and reachable, and share ClusterToken %q",
			ErrNotReady, cfg.readyTimeout(), otherPeers(cfg.name(), ec.InitialCluster), ec.InitialClusterToken)
	}
	if join != nil {
		// Ready means the learner has applied the log up to its own
		// publication: it has caught up, and etcd will promote it.
		pctx, cancel := context.WithTimeout(ctx, cfg.readyTimeout())
		err = join.promote(pctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	closingMembers.Delete(n.ID()) // a restarted member may lead again
	if cfg.Auth != nil {
		if err := applyAuth(ctx, e.Server, cfg.Auth, cfg.readyTimeout()); err != nil {
			return nil, err
		}
	}
	user, password := cfg.clientUser()
	n.client, n.gate = newNodeClient(e.Server, user, password)
	n.watchers.Add(1)
	go n.watch()
	return n, nil
}

// watch records why the server stopped when it stops on its own.
func (n *Node) watch() {
	defer n.watchers.Done()
	var err error
	select {
	case err = <-n.etcd.Err():
	case <-n.etcd.Server.StopNotify():
	}
	if err == nil {
		err = errors.New("etcd server stopped (see its logs)")
	}
	n.gate.stop()
	n.errMu.Lock()
	if n.err == nil {
		n.err = fmt.Errorf("%w: %v", ErrStopped, err)
	}
	n.errMu.Unlock()
	close(n.done)
}

// Client returns a client connected to this member in-process: requests are
// function calls, with no gRPC or network in between. It is the fast path for
// everything coordkit does on an embedded node. The client is owned by the
// node: do not Close it.
//
// The client lives and dies with the node. Once the node stops (Close, Kill,
// or on its own), every call fails at once, unsent, with an error wrapping
// ErrStopped, and its watches and lease keep-alives end: whatever was held
// through it (leases, locks, terms, registrations) is reported lost, and
// the cluster expires it within its TTL. A restarted member is a new Node
// with a new client. Its watches cannot stall when many are cancelled at
// once (see BENCHMARKS.md for their cost).
func (n *Node) Client() *clientv3.Client { return n.client }

// Endpoints returns the URLs clients can dial, with real ports (port 0 in the
// configuration is resolved).
func (n *Node) Endpoints() []string {
	out := make([]string, len(n.clients))
	for i, u := range n.clients {
		out[i] = u.String()
	}
	return out
}

// PeerURLs returns the advertised peer URLs of this member, the value to put
// in other members' InitialCluster.
func (n *Node) PeerURLs() []string {
	out := make([]string, len(n.peers))
	for i, u := range n.peers {
		out[i] = u.String()
	}
	return out
}

// Name returns the member's name.
func (n *Node) Name() string { return n.cfg.name() }

// Dir returns the data directory (the ephemeral one when Config.Dir was
// empty).
func (n *Node) Dir() string { return n.dir }

// ID returns the member's ID, as `etcdctl member list` shows it in hex.
func (n *Node) ID() uint64 { return uint64(n.etcd.Server.MemberID()) }

// ClusterID returns the ID of the member's cluster, as `etcdctl member
// list -w json` shows it.
func (n *Node) ClusterID() uint64 { return uint64(n.etcd.Server.Cluster().ID()) }

// Etcd returns the underlying embedded server, for anything coordkit does
// not wrap. Do not Close it directly; close the Node.
func (n *Node) Etcd() *embed.Etcd { return n.etcd }

// Drained is closed once etcd's own Close of this member has returned
// after Close or Kill (it waits up to a second for connection handlers).
// Handlers of peer connections that a still-running peer keeps open can
// outlive it, until etcd's 5 s peer read timeout. It stays open while the
// node runs.
func (n *Node) Drained() <-chan struct{} { return n.drained }

// ElectionTimeout returns the member's raft election timeout: how long a
// follower waits without hearing from a leader before it campaigns. A
// leader change takes up to about twice this long (see coordkit.MinLeaseTTL).
func (n *Node) ElectionTimeout() time.Duration {
	c := n.etcd.Server.Cfg
	return time.Duration(c.ElectionTicks) * time.Duration(c.TickMs) * time.Millisecond
}

// CheckLeaseTTL reports, with an error wrapping coordkit.ErrInvalidTTL that
// names the numbers, whether leases of the given TTL can be lost when this
// member's cluster changes leader (see coordkit.MinLeaseTTL); it assumes every
// member has this member's election timeout, as they should.
func (n *Node) CheckLeaseTTL(ttl time.Duration) error {
	return coordkit.CheckLeaseTTL(ttl, n.ElectionTimeout())
}

// Done is closed when the server has stopped, on its own or by Close.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns why the server stopped, wrapping ErrStopped, or nil while it
// runs.
func (n *Node) Err() error {
	if cause := n.stopCause(); cause != nil {
		return fmt.Errorf("node: member %q: %w", n.Name(), cause)
	}
	return nil
}

// stopCause is why the server stopped, wrapping ErrStopped, or nil.
func (n *Node) stopCause() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// Close stops the member gracefully: if it leads a cluster of several, it
// first hands leadership to a voting peer (one that is not closing in this
// process), so the others have a leader at once rather than after an
// election timeout; unary client requests in flight get a moment to finish;
// client streams (watches, lease keep-alives) are ended so remote clients
// fail over to other members. Then it stops the server and releases its
// ports and data directory, removing an ephemeral one. Close takes at most
// about one election timeout plus a few hundred milliseconds. It is
// idempotent and safe to call concurrently.
//
// When Close returns, the member no longer serves or takes part in raft,
// its files are closed and its ports are free, so it can be started again
// at once. etcd's own winding down of open connection handlers continues
// in the background (see Drained).
func (n *Node) Close() error { return n.stop(false) }

// Kill stops the member abruptly, as a crash would (no leadership
// hand-off, no grace for requests in flight) but with its data intact on
// disk. It returns as soon as the server has stopped, in milliseconds, with
// the same guarantees as Close. It is for fault tests; Close is the normal
// way to stop.
func (n *Node) Kill() error { return n.stop(true) }

func (n *Node) stop(hard bool) error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	closingMembers.Store(n.ID(), struct{}{}) // until it starts again
	if !hard {
		stepDown(n.etcd, n.ElectionTimeout())
		n.rpcs.waitUnary(unaryGrace)
	}
	n.quiet.Store(true)
	if n.gate != nil {
		n.gate.stop() // before the server: nothing more reaches it
	}
	n.rpcs.cutStreams()
	n.etcd.Server.HardStop()
	closeListeners(n.etcd)
	go func() {
		defer close(n.drained)
		n.etcd.Close() // what is left: connection handlers (see shutdown.go)
	}()
	n.watchers.Wait()
	n.errMu.Lock()
	n.err = ErrStopped
	n.errMu.Unlock()
	return n.release()
}

// release frees what startNode acquired before or instead of etcd.
func (n *Node) release() error {
	if n.etcd != nil && n.client == nil { // failed start
		n.quiet.Store(true)
		n.etcd.Server.HardStop()
		n.etcd.Close()
	}
	var err error
	if n.lock != nil {
		n.lock.Close()
		n.lock = nil
	}
	if n.tempDir && n.dir != "" {
		err = os.RemoveAll(n.dir)
		n.dir = ""
	}
	return err
}

// hasData reports whether dir holds a member's data already: such a member
// restarts as itself rather than joining again.
func hasData(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "member", "wal"))
	return err == nil
}

// lockDataDir fails fast when another member holds dir. etcd itself would
// block forever on the database's file lock; coordkit checks that lock
// without waiting and holds a lock of its own for the node's lifetime.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	db := filepath.Join(dir, "member", "snap", "db")
	if f, err := os.OpenFile(db, os.O_RDWR, 0); err == nil {
		lerr := tryLockFile(f)
		f.Close() // closing releases the probe lock
		if lerr != nil {
			return nil, fmt.Errorf("%w: %s (its database is locked by a running etcd); stop that member or use another Dir", ErrDataDirInUse, dir)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, ".coordkit.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if err := tryLockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s (locked by another coordkit node); close that node or use another Dir", ErrDataDirInUse, dir)
	}
	return f, nil
}

// classifyStartError turns etcd's start errors into coordkit's.
func classifyStartError(plan *startPlan, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
		addr := bindAddr(err)
		if plan.reserved[addr] {
			return errRetryPorts
		}
		return fmt.Errorf("%w: %s: another process listens there; choose another port in ClientURLs/PeerURLs, or port 0 for a free one",
			ErrPortInUse, urlFor(plan, addr))
	}
	if strings.Contains(err.Error(), "cluster ID mismatch") || strings.Contains(err.Error(), "does not match") {
		return fmt.Errorf("%w: %v", ErrClusterMismatch, err)
	}
	return err
}

// bindAddr extracts "host:port" from a net.OpError for a failed listen.
func bindAddr(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		return oe.Addr.String()
	}
	return ""
}

func urlFor(plan *startPlan, addr string) string {
	for _, u := range plan.listen {
		if u.Host == addr {
			return u.String()
		}
	}
	if addr == "" {
		return "(unknown address)"
	}
	return addr
}

func otherPeers(self, initialCluster string) string {
	var out []string
	for _, kv := range strings.Split(initialCluster, ",") {
		name, u, _ := strings.Cut(kv, "=")
		if name != self {
			out = append(out, name+"="+u)
		}
	}
	if len(out) == 0 {
		return "(none: single member)"
	}
	return "[" + strings.Join(out, " ") + "]"
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
