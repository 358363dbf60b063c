package interop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// etcdctl runs the real etcdctl against endpoint and returns its output.
func etcdctl(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := command(t, ctx, endpoint, args...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "etcdctl %v: %s", args, out)
	return string(out)
}

func lookEtcdctl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl not installed (Debian package etcd-client); .ci/run installs it")
	}
	return path
}

func command(t *testing.T, ctx context.Context, endpoint string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, lookEtcdctl(t), args...)
	// The environment reaches commands etcdctl runs too (`etcdctl lock NAME
	// etcdctl put ...`), whose own flags the outer etcdctl would take.
	cmd.Env = append(cmd.Environ(), "ETCDCTL_API=3", "ETCDCTL_ENDPOINTS="+endpoint, "ETCDCTL_DIAL_TIMEOUT=5s")
	cmd.WaitDelay = time.Second
	return cmd
}

// background starts a long-running etcdctl (lock, elect, watch) and returns
// a channel of its output lines; it is killed when the test ends.
func background(t *testing.T, endpoint string, args ...string) <-chan string {
	t.Helper()
	_, lines := backgroundProc(t, endpoint, args...)
	return lines
}

// backgroundProc is background, also returning the process to signal.
func backgroundProc(t *testing.T, endpoint string, args ...string) (*os.Process, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := command(t, ctx, endpoint, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	lines := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		<-done
	})
	return cmd.Process, lines
}

// nextLine waits for the next output line of a background etcdctl.
func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		require.True(t, ok, "etcdctl exited")
		return l
	case <-time.After(15 * time.Second):
		t.Fatal("no output from etcdctl within 15s")
		return ""
	}
}

// waitFor reads lines until one satisfies ok.
func waitFor(t *testing.T, lines <-chan string, ok func(string) bool) string {
	t.Helper()
	for {
		l := nextLine(t, lines)
		if ok(l) {
			return l
		}
		t.Logf("etcdctl: %s", l)
	}
}

// statusJSON is the part of `etcdctl endpoint status -w json` we check.
type statusJSON []struct {
	Status struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
			Revision int64  `json:"revision"`
		} `json:"header"`
		Leader   uint64 `json:"leader"`
		RaftTerm uint64 `json:"raftTerm"`
		Version  string `json:"version"`
	} `json:"Status"`
}

func parseStatus(t *testing.T, out string) statusJSON {
	t.Helper()
	var s statusJSON
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	require.Len(t, s, 1)
	return s
}

func hexID(id int64) string { return strconv.FormatInt(id, 16) }

func fields(out string) []string { return strings.Fields(out) }
