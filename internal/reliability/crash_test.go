package reliability_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coordkit/coordkit/internal/soak"
	"github.com/coordkit/coordkit/node"
)

// The crash test's child process: this test binary, re-executed with
// childEnv set to the data directory, runs a node and writes until it is
// killed.
const (
	childEnv       = "COORDKIT_CRASH_DIR"
	childPortsEnv  = "COORDKIT_CRASH_PORTS" // client,peer
	childFromEnv   = "COORDKIT_CRASH_FROM"  // first key index to write
	childWriters   = 4
	crashKeyPrefix = "crash/"
)

func crashKey(i int) string { return fmt.Sprintf("%s%08d", crashKeyPrefix, i) }

// crashChild starts a single-member node with fsync on in the directory
// named by childEnv, prints "ready", then writes keys from
// COORDKIT_CRASH_FROM on, with several writers at once, and prints
// "ack N" once the write of key N has returned successfully. It never
// returns normally: the parent kills it.
func crashChild() int {
	dir := os.Getenv(childEnv)
	ports := strings.Split(os.Getenv(childPortsEnv), ",")
	from, err := strconv.Atoi(os.Getenv(childFromEnv))
	if err != nil || len(ports) != 2 {
		fmt.Fprintf(os.Stderr, "crash child: bad environment: %s=%q %s=%q\n", childPortsEnv, os.Getenv(childPortsEnv), childFromEnv, os.Getenv(childFromEnv))
		return 2
	}
	peer := "http://127.0.0.1:" + ports[1]
	n, err := node.Start(context.Background(), node.Config{
		Name:            "crash",
		Dir:             dir,
		ClientURLs:      []string{"http://127.0.0.1:" + ports[0]},
		PeerURLs:        []string{peer},
		InitialCluster:  map[string]string{"crash": peer},
		UnsafeNoFsync:   false, // fsync on: the point of the test
		TickInterval:    10 * time.Millisecond,
		ElectionTimeout: 100 * time.Millisecond,
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "crash child: start node: %v\n", err)
		return 1
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	say("ready")
	next := atomic.Int64{}
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range childWriters {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := n.Client().Put(ctx, crashKey(i), strconv.Itoa(i))
				cancel()
				if err != nil {
					fmt.Fprintf(os.Stderr, "crash child: put %d: %v\n", i, err)
					continue
				}
				say("ack %d", i)
			}
		})
	}
	wg.Wait()
	return 0
}

// A node with fsync on, in a child process, is SIGKILLed while several
// writers are mid-write, over and over, and restarted on the same data
// directory: after each restart every write it acknowledged before the
// kill is there, with its value.
//
// A process crash leaves the kernel's page cache to reach the disk, so
// this checks that a write is acknowledged only once it is in etcd's WAL,
// not that fsync reached the disk (that takes a power cut: with fsync off
// the test passes too).
func TestCrashDurability(t *testing.T) {
	t.Parallel()
	run := soak.Start(t, 5*time.Second)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700))
	ports := make([]string, 2)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports[i] = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
	endpoint := "127.0.0.1:" + ports[0]

	acked := map[int]bool{}
	next := 0
	began := time.Now()
	for round := 0; ; round++ {
		final := round >= 3 && time.Since(began) > run.Duration
		child := startCrashChild(t, dir, ports, next)
		verifyAcked(t, endpoint, acked, round)
		if final {
			child.kill(t)
			t.Logf("%d kills, %d acknowledged writes all found after each restart", round, len(acked))
			return
		}
		// Kill after a random number of acknowledgements: with four
		// writers, others are in flight at that moment.
		want := 20 + run.Rand.IntN(300)
		child.waitAcks(t, want)
		got := child.kill(t)
		for _, i := range got {
			acked[i] = true
			next = max(next, i+1)
		}
		next += childWriters // keys possibly written but not acknowledged are not reused
		t.Logf("round %d: killed after %d acknowledged writes", round, len(got))
	}
}

type crashProc struct {
	cmd    *exec.Cmd
	lines  chan string
	acks   []int
	stderr *strings.Builder
	errMu  *sync.Mutex
}

func startCrashChild(t *testing.T, dir string, ports []string, from int) *crashProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, childPortsEnv+"="+strings.Join(ports, ","), childFromEnv+"="+strconv.Itoa(from))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &crashProc{cmd: cmd, lines: make(chan string, 1024), stderr: &strings.Builder{}, errMu: &sync.Mutex{}}
	cmd.Stderr = lockedWriter{p.errMu, p.stderr}
	require.NoError(t, cmd.Start())
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			p.kill(t)
		}
		p.errMu.Lock()
		defer p.errMu.Unlock()
		if t.Failed() && p.stderr.Len() > 0 {
			t.Logf("child stderr:\n%s", p.stderr.String())
		}
	})
	select {
	case l, ok := <-p.lines:
		if !ok || l != "ready" {
			p.kill(t)
			t.Fatalf("child did not start (said %q)", l)
		}
	case <-time.After(time.Minute):
		p.kill(t)
		t.Fatal("child not ready within a minute")
	}
	return p
}

func (p *crashProc) take(l string) {
	if s, ok := strings.CutPrefix(l, "ack "); ok {
		if i, err := strconv.Atoi(s); err == nil {
			p.acks = append(p.acks, i)
		}
	}
}

func (p *crashProc) waitAcks(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(time.Minute)
	for len(p.acks) < n {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("child exited after %d acknowledgements", len(p.acks))
			}
			p.take(l)
		case <-deadline:
			t.Fatalf("child acknowledged %d writes in a minute, want %d", len(p.acks), n)
		}
	}
}

// kill SIGKILLs the child and returns every write it acknowledged.
func (p *crashProc) kill(t *testing.T) []int {
	t.Helper()
	_ = p.cmd.Process.Kill() // SIGKILL on Unix
	for l := range p.lines { // what it printed before dying was acknowledged
		p.take(l)
	}
	_ = p.cmd.Wait()
	return p.acks
}

// verifyAcked reads every key through a gRPC client of the restarted node
// and fails the test for each acknowledged write that is missing.
func verifyAcked(t *testing.T, endpoint string, acked map[int]bool, round int) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, crashKeyPrefix, clientv3.WithPrefix())
	require.NoError(t, err)
	found := map[int]string{}
	for _, kv := range resp.Kvs {
		i, _ := strconv.Atoi(strings.TrimPrefix(string(kv.Key), crashKeyPrefix))
		found[i] = string(kv.Value)
	}
	var missing []int
	for i := range acked {
		if v, ok := found[i]; !ok || v != strconv.Itoa(i) {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("after restart %d: %d of %d acknowledged writes missing or wrong, e.g. %v", round, len(missing), len(acked), missing[:min(10, len(missing))])
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
