package node_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/internal/nodetest"
	"github.com/coordkit/coordkit/node"
)

func TestMain(m *testing.M) { nodetest.Main(m) }

// The helpers every test of this package uses (see internal/nodetest).
var (
	fast           = nodetest.Fast
	start          = nodetest.Start
	freeAddr       = nodetest.FreeAddr
	cheapPasswords = nodetest.CheapPasswords
)

// requireFree asserts nothing listens on addr any more.
func requireFree(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err, "%s is still bound after a failed start", addr)
	l.Close()
}

func TestStartNodeServesAndReportsStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := start(t, fast("solo"))
	require.Len(t, n.Endpoints(), 1)
	require.NotContains(t, n.Endpoints()[0], ":0", "port 0 must be resolved to the real port")

	put, err := n.Client().Put(ctx, "greeting", "hello")
	require.NoError(t, err)
	st, err := n.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.IsLeader)
	require.Equal(t, n.ID(), st.MemberID)
	require.Equal(t, put.Header.Revision, st.Revision)
	require.Equal(t, "3.7.3", st.Version)
	require.Positive(t, st.DBSize)
	require.Positive(t, st.RaftTerm)

	ms, err := n.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, "solo", ms[0].Name)
	require.Equal(t, n.Endpoints(), ms[0].ClientURLs)
	require.Equal(t, n.PeerURLs(), ms[0].PeerURLs)

	// A gRPC client over the real endpoint sees the same data.
	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer cli.Close()
	r, err := cli.Get(ctx, "greeting")
	require.NoError(t, err)
	require.Equal(t, "hello", string(r.Kvs[0].Value))
	remote, err := coordkit.EndpointStatus(ctx, cli, n.Endpoints()[0])
	require.NoError(t, err)
	require.Equal(t, st.MemberID, remote.MemberID)
}

func TestCloseIsIdempotentRemovesEphemeralDirAndSignalsDone(t *testing.T) {
	t.Parallel()
	n, err := node.Start(context.Background(), fast("eph"))
	require.NoError(t, err)
	dir := n.Dir()
	require.DirExists(t, dir)
	require.Nil(t, n.Err())
	select {
	case <-n.Done():
		t.Fatal("Done closed while running")
	default:
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, n.Close()) }()
	}
	wg.Wait()
	require.NoError(t, n.Close())
	<-n.Done()
	require.ErrorIs(t, n.Err(), node.ErrStopped)
	require.NoDirExists(t, dir)
	_, err = n.Status(context.Background())
	require.ErrorIs(t, err, node.ErrStopped)
	requireFree(t, strings.TrimPrefix(n.Endpoints()[0], "http://"))
}

func TestPersistentDirKeepsDataAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := fast("durable")
	cfg.Dir = filepath.Join(t.TempDir(), "data")
	n, err := node.Start(ctx, cfg)
	require.NoError(t, err)
	_, err = n.Client().Put(ctx, "k", "survives")
	require.NoError(t, err)
	require.NoError(t, n.Close())
	require.DirExists(t, cfg.Dir)

	n2 := start(t, cfg)
	r, err := n2.Client().Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "survives", string(r.Kvs[0].Value))
}

func TestPortInUseNamesTheURLAndLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cfg := fast("clash")
	peer := freeAddr(t)
	cfg.PeerURLs = []string{"http://" + peer}
	cfg.ClientURLs = []string{"http://" + busy.Addr().String()}
	begin := time.Now()
	_, err = node.Start(context.Background(), cfg)
	require.ErrorIs(t, err, node.ErrPortInUse)
	require.Contains(t, err.Error(), busy.Addr().String())
	require.True(t, strings.HasPrefix(err.Error(), `node: start "clash": address already in use: `), "one message shape, the prefix once: %v", err)
	require.Less(t, time.Since(begin), cfg.ReadyTimeout, "must fail fast, not wait for readiness")
	requireFree(t, peer)
}

func TestDataDirInUseFailsFast(t *testing.T) {
	t.Parallel()
	cfg := fast("first")
	cfg.Dir = t.TempDir()
	require.NoError(t, os.Chmod(cfg.Dir, 0o700))
	start(t, cfg)

	second := fast("second")
	second.Dir = cfg.Dir
	second.ReadyTimeout = time.Minute // a hang would show as a test timeout
	_, err := node.Start(context.Background(), second)
	require.ErrorIs(t, err, node.ErrDataDirInUse)
	require.Contains(t, err.Error(), cfg.Dir)
}

func TestMissingQuorumTimesOutNamingPeers(t *testing.T) {
	t.Parallel()
	cfg := fast("lonely")
	self, ghost := freeAddr(t), freeAddr(t)
	cfg.PeerURLs = []string{"http://" + self}
	cfg.InitialCluster = map[string]string{"lonely": "http://" + self, "ghost": "http://" + ghost}
	cfg.ReadyTimeout = 500 * time.Millisecond
	_, err := node.Start(context.Background(), cfg)
	require.ErrorIs(t, err, node.ErrNotReady)
	require.Contains(t, err.Error(), "ghost=http://"+ghost)
	requireFree(t, self)
}

func TestClusterTokenMismatchIsReported(t *testing.T) {
	t.Parallel()
	a := fast("a")
	a.ClusterToken = "token-a"
	na := start(t, a)

	b := fast("b")
	self := freeAddr(t)
	b.PeerURLs = []string{"http://" + self}
	b.ClusterToken = "token-b"
	b.InitialCluster = map[string]string{"a": na.PeerURLs()[0], "b": "http://" + self}
	b.ReadyTimeout = 5 * time.Second
	_, err := node.Start(context.Background(), b)
	// The peer's refusal is recognised at once, not after ReadyTimeout.
	require.ErrorIs(t, err, node.ErrClusterMismatch)
	require.Contains(t, err.Error(), "ClusterToken")
}

func TestMalformedConfigIsRejectedBeforeStarting(t *testing.T) {
	t.Parallel()
	cases := map[string]func(*node.Config){
		"no scheme":           func(c *node.Config) { c.ClientURLs = []string{"127.0.0.1:2379"} },
		"bad scheme":          func(c *node.Config) { c.ClientURLs = []string{"ftp://127.0.0.1:2379"} },
		"no port":             func(c *node.Config) { c.PeerURLs = []string{"http://127.0.0.1"} },
		"bad port":            func(c *node.Config) { c.PeerURLs = []string{"http://127.0.0.1:port"} },
		"path":                func(c *node.Config) { c.ClientURLs = []string{"http://127.0.0.1:0/v3"} },
		"https without TLS":   func(c *node.Config) { c.ClientURLs = []string{"https://127.0.0.1:0"} },
		"unparsable":          func(c *node.Config) { c.AdvertiseClientURLs = []string{"http://[::1"} },
		"self not in cluster": func(c *node.Config) { c.InitialCluster = map[string]string{"other": "http://127.0.0.1:1"} },
		"election < 5 ticks":  func(c *node.Config) { c.ElectionTimeout = 20 * time.Millisecond },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := fast("bad")
			mutate(&cfg)
			_, err := node.Start(context.Background(), cfg)
			require.ErrorIs(t, err, coordkit.ErrInvalidArgument)
		})
	}
}

func TestCancelledStartTearsEverythingDown(t *testing.T) {
	t.Parallel()
	cfg := fast("cancelled")
	self, ghost := freeAddr(t), freeAddr(t)
	cfg.PeerURLs = []string{"http://" + self}
	cfg.InitialCluster = map[string]string{"cancelled": "http://" + self, "ghost": "http://" + ghost}
	cfg.Dir = t.TempDir()
	require.NoError(t, os.Chmod(cfg.Dir, 0o700))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := node.Start(ctx, cfg)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	requireFree(t, self)

	// The data dir is released: a (single-member) node can use it now.
	again := fast("cancelled")
	again.Dir = t.TempDir()
	start(t, again)
	cancelledBefore, stop := context.WithCancel(context.Background())
	stop()
	_, err = node.Start(cancelledBefore, fast("x"))
	require.ErrorIs(t, err, context.Canceled)
}

func TestThreeNodesInOneProcessFormAClusterAndOneJoinsLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	names := []string{"n0", "n1", "n2"}
	peers := map[string]string{}
	cfgs := map[string]node.Config{}
	for _, name := range names {
		cfg := fast(name)
		addr := freeAddr(t)
		cfg.PeerURLs = []string{"http://" + addr}
		peers[name] = "http://" + addr
		cfgs[name] = cfg
	}
	nodes := make([]*node.Node, len(names))
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		cfg := cfgs[name]
		cfg.InitialCluster = peers
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = node.Start(ctx, cfg)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, names[i])
		t.Cleanup(func() { nodes[i].Close() })
	}
	_, err := nodes[0].Client().Put(ctx, "shared", "yes")
	require.NoError(t, err)
	r, err := nodes[2].Client().Get(ctx, "shared")
	require.NoError(t, err)
	require.Equal(t, "yes", string(r.Kvs[0].Value))

	// A fourth member joins the running cluster, as `etcdctl member add`
	// followed by --initial-cluster-state=existing would.
	late := fast("n3")
	addr := freeAddr(t)
	late.PeerURLs = []string{"http://" + addr}
	// etcd refuses to add a member until its peers have been connected for
	// a while (strict reconfig check): that refusal is definite, so retry.
	require.Eventually(t, func() bool {
		_, err = nodes[0].Client().MemberAdd(ctx, []string{"http://" + addr})
		return err == nil
	}, 20*time.Second, 100*time.Millisecond, "member add: %v", err)
	late.InitialCluster = map[string]string{"n3": "http://" + addr}
	for k, v := range peers {
		late.InitialCluster[k] = v
	}
	late.JoinExisting = true
	n3 := start(t, late)
	require.Eventually(t, func() bool {
		r, err := n3.Client().Get(ctx, "shared", clientv3.WithSerializable())
		return err == nil && len(r.Kvs) == 1
	}, 10*time.Second, 10*time.Millisecond)
	ms, err := n3.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 4)
}

func TestEtcdLogsAreBridgedToSlogAtWarnByDefault(t *testing.T) {
	t.Parallel()
	// etcd may still log after Close returns (its own Close ends in the
	// background), so the logs are read under the writer's lock once the
	// node has drained.
	quiet, chatty := &syncWriter{w: &bytes.Buffer{}}, &syncWriter{w: &bytes.Buffer{}}
	cfg := fast("quiet")
	cfg.Logger = slog.New(slog.NewTextHandler(quiet, nil))
	n := start(t, cfg)
	require.NoError(t, n.Close())
	<-n.Drained()

	info := slog.LevelInfo
	cfg = fast("chatty")
	cfg.Logger = slog.New(slog.NewTextHandler(chatty, nil))
	cfg.LogLevel = &info
	n = start(t, cfg)
	require.NoError(t, n.Close())
	<-n.Drained()
	require.Contains(t, chatty.String(), "level=INFO")
	require.Contains(t, chatty.String(), "chatty")
	require.NotContains(t, quiet.String(), "level=INFO")
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// String is what was written so far.
func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func TestConfigReachesEtcd(t *testing.T) {
	t.Parallel()
	cfg := fast("tuned")
	cfg.QuotaBackendBytes = 32 << 20
	cfg.AutoCompactionMode = "revision"
	cfg.AutoCompactionRetention = "1000"
	cfg.ClusterToken = "tok"
	var applied bool
	cfg.Embed = func(c *embed.Config) { applied = true; c.MaxTxnOps = 256 }
	n := start(t, cfg)
	ec := n.Etcd().Config()
	require.True(t, applied, "the Embed escape hatch runs")
	require.EqualValues(t, 32<<20, ec.QuotaBackendBytes)
	require.Equal(t, "revision", ec.AutoCompactionMode)
	require.Equal(t, "1000", ec.AutoCompactionRetention)
	require.True(t, ec.UnsafeNoFsync)
	require.EqualValues(t, 10, ec.TickMs)
	require.EqualValues(t, 100, ec.ElectionMs)
	require.Equal(t, "tok", ec.InitialClusterToken)
	require.EqualValues(t, 256, ec.MaxTxnOps)

	// A quota that is reached raises etcd's NOSPACE alarm, as documented.
	ctx := context.Background()
	big := strings.Repeat("x", 1<<20)
	var err error
	for i := 0; i < 64 && err == nil; i++ {
		_, err = n.Client().Put(ctx, fmt.Sprintf("big/%d", i), big)
	}
	require.ErrorContains(t, err, "database space exceeded")

	defaults := fast("defaults")
	defaults.QuotaBackendBytes = 0
	def := start(t, defaults)
	require.EqualValues(t, node.DefaultQuotaBackendBytes, def.Etcd().Config().QuotaBackendBytes,
		"an unset quota is set explicitly, so bbolt does not map 10 GiB")
}

func ExampleStart() {
	ctx := context.Background()
	n, err := node.Start(ctx, node.Config{
		Name:       "example",
		ClientURLs: []string{"http://127.0.0.1:0"}, // free ports
		PeerURLs:   []string{"http://127.0.0.1:0"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()

	cli := n.Client() // in-process: no network in between
	if _, err := cli.Put(ctx, "greeting", "hello"); err != nil {
		fmt.Println(err)
		return
	}
	resp, err := cli.Get(ctx, "greeting")
	if err != nil {
		fmt.Println(err)
		return
	}
	st, _ := n.Status(ctx)
	fmt.Printf("%s, leader=%v\n", resp.Kvs[0].Value, st.IsLeader)
	// Output: hello, leader=true
}
