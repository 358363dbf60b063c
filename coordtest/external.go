package coordtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EnvEtcdBinary names the environment variable that switches client suites
// to an external etcd server: set to the path of an etcd executable (for
// example /usr/bin/etcd from Debian's etcd-server), NewServer starts that
// binary for each test instead of an embedded member, and NewNode and
// NewCluster skip their tests, which need embedded members. CI sets it once
// per server version.
const EnvEtcdBinary = "COORDKIT_ETCD_BINARY"

// EnvSecure names the environment variable that switches client suites
// to secure mode: set to 1, NewServer starts a 3-member cluster with mutual
// TLS on its client and peer ports, JWT tokens and auth enabled, and hands
// the test clients that authenticate as a user whose role covers only a
// prefix of the test's own, with their keys, watches and leases namespaced
// under it. NewNode and NewCluster skip their tests, as in external mode,
// and so do tests that declare WithFullAccess. CI sets it once.
const EnvSecure = "COORDKIT_TEST_SECURE"

// externalBinary is the etcd executable tests run against, or "" for
// embedded members. It and secureMode are the one place the environment
// selects a mode.
func externalBinary() string { return os.Getenv(EnvEtcdBinary) }

// secureMode reports whether EnvSecure selects secure mode.
func secureMode() bool { return os.Getenv(EnvSecure) == "1" }

// skipIfExternal skips a test that needs embedded members of its own when
// the suite runs against an external server or in secure mode.
func skipIfExternal(t testing.TB, what string) {
	t.Helper()
	if bin := externalBinary(); bin != "" {
		t.Skipf("coordtest: skipped against the external etcd %s (%s is set): the test uses %s, which starts embedded members for fault injection or in-process access", bin, EnvEtcdBinary, what)
	}
	if secureMode() {
		t.Skipf("coordtest: skipped in secure mode (%s=1): the test uses %s, whose members run without TLS and auth; the ordinary run covers it", EnvSecure, what)
	}
}

// process is an etcd server running as a child process for one test.
type process struct {
	endpoints []string
	cmd       *exec.Cmd
	out       *testLog
	done      chan struct{} // closed once the process has exited
	waitErr   error
	stopped   bool // by kill or a failed start: its exit is expected
}

// startProcess starts bin as a one-member cluster on free loopback ports
// with a temporary data directory, and waits until it serves with a leader.
// The process is killed when the test ends.
func startProcess(t testing.TB, bin string, o *options) *process {
	t.Helper()
	version, err := binaryVersion(bin)
	if err != nil {
		t.Fatalf("coordtest: %s=%s: %v", EnvEtcdBinary, bin, err)
	}
	dir := dataDir(t, o.fsync)
	out := newTestLogWriter(t)
	for attempt := 0; ; attempt++ {
		p, err := tryStart(t, bin, version, dir, o, out)
		if err == nil {
			return p
		}
		if errors.Is(err, errPortTaken) && attempt < 5 {
			if err := clearDir(dir); err != nil {
				t.Fatalf("coordtest: %v", err)
			}
			continue // another process took a port between probe and bind
		}
		t.Fatalf("coordtest: start etcd %s (%s): %v", version, bin, err)
	}
}

var errPortTaken = errors.New("port taken")

func tryStart(t testing.TB, bin, version, dir string, o *options, out *testLog) (*process, error) {
	cport, err1 := freePort()
	pport, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	client := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cport))
	peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(pport))
	args := []string{
		"--name", "coordtest",
		"--data-dir", dir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "coordtest=" + peer,
		"--initial-cluster-token", "coordtest",
		"--heartbeat-interval", strconv.FormatInt(o.tick.Milliseconds(), 10),
		"--election-timeout", strconv.FormatInt(o.election.Milliseconds(), 10),
		"--quota-backend-bytes", strconv.FormatInt(o.quota, 10),
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", zapLevel(o.level),
	}
	if mode, ret, ok := cut(o.autoCompaction); ok {
		args = append(args, "--auto-compaction-mode", mode, "--auto-compaction-retention", ret)
	}
	if !o.fsync && !versionLess(version, "3.5") {
		args = append(args, "--unsafe-no-fsync") // 3.4 lacks it; dataDir uses tmpfs there
	}
	logged := len(out.String()) // this attempt's output follows
	cmd := exec.Command(bin, args...)
	cmd.Env = withoutEtcdEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{endpoints: []string{client}, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			if !p.stopped {
				t.Errorf("coordtest: the etcd server %s exited during the test: %v", bin, p.waitErr)
			}
		default:
			p.kill()
		}
	})
	if err := p.waitReady(20 * time.Second); err != nil {
		p.kill()
		if output := out.String(); len(output) >= logged && strings.Contains(output[logged:], "address already in use") {
			return nil, fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, fmt.Errorf("%w; its output:\n%s", err, out.String())
	}
	return p, nil
}

// waitReady polls the server's status until it reports a leader, the
// process exits, or the timeout passes.
func (p *process) waitReady(timeout time.Duration) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: p.endpoints, DialTimeout: timeout, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// A status request to a port nobody serves is retried until its
	// deadline, so requests end when the process does.
	alive, exited := context.WithCancel(context.Background())
	defer exited()
	go func() {
		select {
		case <-p.done:
			exited()
		case <-alive.Done():
		}
	}()
	for {
		ctx, cancel := context.WithTimeout(alive, 500*time.Millisecond)
		st, err := cli.Status(ctx, p.endpoints[0])
		cancel()
		if err == nil && st.Leader != 0 {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("the process exited before it was ready: %v", p.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: last status error: %v", timeout, err)
		}
		<-tick.C
	}
}

// kill ends the process, like a crash, and waits until it has exited.
func (p *process) kill() {
	p.stopped = true
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// dataDir is a temporary data directory removed when the test ends. When
// fsync is off it lies on tmpfs where there is one: etcd 3.4 has no flag
// to turn fsync off, and fsync on tmpfs costs nothing.
func dataDir(t testing.TB, fsync bool) string {
	if !fsync {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			if d, err := os.MkdirTemp("/dev/shm", "coordtest-etcd-"); err == nil {
				t.Cleanup(func() { os.RemoveAll(d) })
				return d
			}
		}
	}
	return tempDir(t)
}

// clearDir empties dir, left behind by a failed start.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(dir + string(os.PathSeparator) + e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// withoutEtcdEnv drops ETCD_* variables, which etcd reads as flags.
func withoutEtcdEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ETCD_") {
			out = append(out, kv)
		}
	}
	return out
}

func zapLevel(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	default:
		return "error"
	}
}

var versions sync.Map // binary path → version string

// binaryVersion runs `bin --version` once per binary and returns the
// version it prints ("3.4.23").
func binaryVersion(bin string) (string, error) {
	if v, ok := versions.Load(bin); ok {
		return v.(string), nil
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cannot run it: %w (%s); set it to an etcd server executable", err, bytes.TrimSpace(out))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "etcd Version: "); ok {
			v = strings.TrimSpace(v)
			versions.Store(bin, v)
			return v, nil
		}
	}
	return "", fmt.Errorf("it is not an etcd server: `--version` printed %q", bytes.TrimSpace(out))
}
