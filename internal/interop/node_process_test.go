package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit"
)

// nodeProc is one examples/node process.
type nodeProc struct {
	name     string
	cmd      *exec.Cmd
	endpoint string // its client URL
	serving  string // the line it printed when serving
	exited   chan error
}

// buildNode builds examples/node into dir.
func buildNode(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "node")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/coordkit/coordkit/examples/node").CombinedOutput()
	require.NoError(t, err, "go build examples/node: %s", out)
	return bin
}

func loopbackURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return "http://" + l.Addr().String()
}

// startNodeProc starts examples/node with args (and env, ETCD_* variables)
// in dir and waits for its "serving" line. It is stopped with SIGTERM when
// the test ends, unless the test stopped it.
func startNodeProc(t *testing.T, bin, dir, name, client string, env []string, args ...string) *nodeProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &syncBuffer{b: &stderr}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &nodeProc{name: name, cmd: cmd, endpoint: client, exited: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case p.serving = <-lines:
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("node %s exited before serving: %v\n%s", name, err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("node %s not serving after 60 s\n%s", name, stderr.String())
	}
	return p
}

// stop sends SIGTERM and waits for the graceful exit; it returns the
// process's exit error.
func (p *nodeProc) stop(t *testing.T) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return nil // already gone
	}
	select {
	case err := <-p.exited:
		return err
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("node %s ignored SIGTERM for 20 s", p.name)
		return <-p.exited
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Three examples/node processes form a cluster from etcd's flags (one from
// ETCD_* variables), a fourth joins with --join, our notes' etcdctl session
// runs against them, and SIGTERM stops each gracefully.
func TestNodeProcessesFormAClusterAndOneJoins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs examples/node")
	}
	dir := t.TempDir()
	bin := buildNode(t, dir)
	names := []string{"etcd0", "etcd1", "etcd2"}
	clients, peers := map[string]string{}, map[string]string{}
	var initial []string
	for _, n := range names {
		clients[n], peers[n] = loopbackURL(t), loopbackURL(t)
		initial = append(initial, n+"="+peers[n])
	}
	timing := []string{"--heartbeat-interval=50", "--election-timeout=500"}
	procs := make([]*nodeProc, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		var args, env []string
		if i == 2 { // the third is configured through the environment alone
			env = []string{
				"ETCD_NAME=" + n, "ETCD_LISTEN_CLIENT_URLS=" + clients[n], "ETCD_ADVERTISE_CLIENT_URLS=" + clients[n],
				"ETCD_LISTEN_PEER_URLS=" + peers[n], "ETCD_INITIAL_ADVERTISE_PEER_URLS=" + peers[n],
				"ETCD_INITIAL_CLUSTER_TOKEN=notes-cluster", "ETCD_INITIAL_CLUSTER=" + strings.Join(initial, ","),
				"ETCD_INITIAL_CLUSTER_STATE=new", "ETCD_HEARTBEAT_INTERVAL=50", "ETCD_ELECTION_TIMEOUT=500",
			}
		} else { // one dash and two, as etcd takes them
			args = append([]string{"-name", n, "--listen-client-urls", clients[n], "-advertise-client-urls=" + clients[n],
				"--listen-peer-urls=" + peers[n], "-initial-advertise-peer-urls", peers[n],
				"-initial-cluster-token", "notes-cluster", "--initial-cluster", strings.Join(initial, ","),
				"--initial-cluster-state", "new"}, timing...)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i] = startNodeProc(t, bin, dir, n, clients[n], env, args...)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, p := range procs {
		require.Contains(t, p.serving, "serving name="+names[i]+" member-id=")
		require.Contains(t, p.serving, "client-urls="+clients[names[i]])
		require.DirExists(t, filepath.Join(dir, names[i]+".etcd"), "data in ./<name>.etcd")
	}

	// A fourth joins through one member's client endpoint.
	c3, p3 := loopbackURL(t), loopbackURL(t)
	joined := startNodeProc(t, bin, dir, "etcd3", c3, nil, append([]string{"--name", "etcd3", "--listen-client-urls", c3,
		"--listen-peer-urls", p3, "--join", clients["etcd1"]}, timing...)...)
	procs = append(procs, joined)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var eps []string
	for _, p := range procs {
		eps = append(eps, p.endpoint)
	}
	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: eps, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer cli.Close()
	ms, err := coordkit.Members(ctx, cli)
	require.NoError(t, err)
	var got []string
	for _, m := range ms {
		require.False(t, m.IsLearner, "%s is still a learner", m.Name)
		got = append(got, m.Name)
	}
	slices.Sort(got)
	require.Equal(t, []string{"etcd0", "etcd1", "etcd2", "etcd3"}, got)

	t.Run("etcdctl session of our notes", func(t *testing.T) {
		notesSession(t, strings.Join(eps, ","), len(procs))
	})

	// SIGTERM stops each gracefully (exit status 0), leader included.
	for _, p := range procs {
		require.NoError(t, p.stop(t), "node %s", p.name)
	}
}

// notesSession is the etcdctl session of our etcd notes, against endpoints
// (comma-separated) of a cluster of size members.
func notesSession(t *testing.T, endpoints string, size int) {
	lookEtcdctl(t)
	ctl := func(args ...string) string { return etcdctl(t, endpoints, args...) }

	// lease grant, then put --lease and --prev-kv.
	f := fields(ctl("lease", "grant", "100")) // lease <id> granted with TTL(100s)
	require.Equal(t, "granted", f[2])
	id := f[1]
	require.Equal(t, "OK", strings.TrimSpace(ctl("put", "name", "eric", "--lease", id)))
	require.Equal(t, []string{"OK", "name", "eric"}, fields(ctl("put", "name", "yuan", "--lease", id, "--prev-kv")))
	require.Equal(t, []string{"name", "yuan"}, fields(ctl("get", "", "--prefix")))

	// Every lease command.
	ttl := ctl("lease", "timetolive", id, "--keys")
	require.Contains(t, ttl, "granted with TTL(100s)")
	require.Contains(t, ttl, "attached keys([name])")
	require.Contains(t, ctl("lease", "list"), id)
	require.Contains(t, ctl("lease", "keep-alive", "--once", id), "keepalived with TTL(100)")
	require.Contains(t, ctl("lease", "revoke", id), "revoked")
	require.Contains(t, ctl("lease", "timetolive", id), "already expired")
	require.Empty(t, strings.TrimSpace(ctl("get", "name")), "the lease's key went with it")

	// lock without a command holds until interrupted; with a command it
	// runs the command under the lock.
	holder, held := backgroundProc(t, endpoints, "lock", "mylock1", "--ttl", "10")
	require.True(t, strings.HasPrefix(nextLine(t, held), "mylock1/"))
	require.NoError(t, holder.Signal(os.Interrupt))
	require.Equal(t, "lock acquired", strings.TrimSpace(ctl("lock", "mylock1", "echo", "lock acquired")))
	require.Equal(t, "OK", strings.TrimSpace(ctl("lock", "mylock", lookEtcdctl(t), "put", "foo", "bar")))
	require.Equal(t, []string{"foo", "bar"}, fields(ctl("get", "foo")))

	// elect as a candidate, and as an observer.
	candidate, elected := backgroundProc(t, endpoints, "elect", "president", "biden")
	require.True(t, strings.HasPrefix(nextLine(t, elected), "president/"))
	require.Equal(t, "biden", nextLine(t, elected))
	observer := background(t, endpoints, "elect", "president", "-l")
	require.True(t, strings.HasPrefix(nextLine(t, observer), "president/"))
	require.Equal(t, "biden", nextLine(t, observer))
	require.NoError(t, candidate.Signal(os.Interrupt))

	// watch --rev replays history from a revision.
	ctl("put", "/foo", "one")
	var got struct {
		Kvs []struct {
			ModRevision int64 `json:"mod_revision"`
		} `json:"kvs"`
	}
	require.NoError(t, json.Unmarshal([]byte(ctl("get", "/foo", "-w", "json")), &got))
	require.Len(t, got.Kvs, 1)
	ctl("put", "/foo", "two")
	watch := background(t, endpoints, "watch", "--rev="+itoa(got.Kvs[0].ModRevision), "/foo")
	for _, want := range []string{"PUT", "/foo", "one", "PUT", "/foo", "two"} {
		require.Equal(t, want, nextLine(t, watch))
	}

	// endpoint status and member list: every member, one version.
	status := strings.Split(strings.TrimSpace(ctl("endpoint", "status")), "\n")
	require.Len(t, status, size)
	for _, line := range status {
		require.Contains(t, line, "3.7.3")
	}
	members := strings.Split(strings.TrimSpace(ctl("member", "list")), "\n")
	require.Len(t, members, size)
	for _, line := range members {
		require.Contains(t, line, "started")
	}
}
