package coordtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coordkit/coordkit/coordtest"
)

// iterTB lets a benchmark start and close a coordtest node or cluster once
// per iteration: Cleanup functions are collected and run by closeAll rather
// than at the end of the whole benchmark.
type iterTB struct {
	testing.TB
	cleanups []func()
}

func (t *iterTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *iterTB) TempDir() string {
	d, err := os.MkdirTemp("", "coordtest-bench-")
	if err != nil {
		t.TB.Fatal(err)
	}
	t.cleanups = append(t.cleanups, func() { os.RemoveAll(d) })
	return d
}
func (t *iterTB) closeAll() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

func pct(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(p*float64(len(s)-1))]) / float64(time.Millisecond)
}

// BenchmarkNewNode measures one node from NewNode to ready, and its close.
func BenchmarkNewNode(b *testing.B) {
	var ready, closing []time.Duration
	for b.Loop() {
		tb := &iterTB{TB: b}
		t0 := time.Now()
		coordtest.NewNode(tb)
		ready = append(ready, time.Since(t0))
		t1 := time.Now()
		tb.closeAll()
		closing = append(closing, time.Since(t1))
	}
	b.ReportMetric(pct(ready, 0.5), "ready-p50-ms")
	b.ReportMetric(pct(ready, 0.9), "ready-p90-ms")
	b.ReportMetric(pct(closing, 0.5), "close-p50-ms")
}

// BenchmarkNewCluster3 measures a 3-member cluster from NewCluster to every
// member ready, and closing it.
func BenchmarkNewCluster3(b *testing.B) {
	var ready, closing []time.Duration
	for b.Loop() {
		tb := &iterTB{TB: b}
		t0 := time.Now()
		coordtest.NewCluster(tb, 3)
		ready = append(ready, time.Since(t0))
		t1 := time.Now()
		tb.closeAll()
		closing = append(closing, time.Since(t1))
	}
	b.ReportMetric(pct(ready, 0.5), "ready-p50-ms")
	b.ReportMetric(pct(ready, 0.9), "ready-p90-ms")
	b.ReportMetric(pct(closing, 0.5), "close-p50-ms")
	b.ReportMetric(pct(closing, 0.9), "close-p90-ms")
}

const rssChildEnv = "COORDTEST_RSS_CHILD"

// BenchmarkIdleNodeRSS reports the resident memory of a fresh process
// holding one idle node after 1,000 small puts, next to the same process
// without a node. Each figure comes from a child process (this test binary
// re-run), so earlier benchmarks do not inflate it.
func BenchmarkIdleNodeRSS(b *testing.B) {
	measure := func(mode string) float64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), rssChildEnv+"="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("rss child: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "RSS_KB="); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(v))
				return float64(kb) / 1024
			}
		}
		b.Fatalf("rss child printed no figure:\n%s", out)
		return 0
	}
	var with, without float64
	for b.Loop() {
		with, without = measure("node"), measure("bare")
	}
	b.ReportMetric(with, "MiB-rss-with-node")
	b.ReportMetric(without, "MiB-rss-bare")
	b.ReportMetric(with-without, "MiB-node")
}

// TestRSSChild is the child side of BenchmarkIdleNodeRSS; it does nothing
// in a normal test run.
func TestRSSChild(t *testing.T) {
	mode := os.Getenv(rssChildEnv)
	if mode == "" {
		t.Skip("only run as BenchmarkIdleNodeRSS's child process")
	}
	if mode == "node" {
		n := coordtest.NewNode(t)
		ctx := context.Background()
		for i := range 1000 {
			if _, err := n.Client().Put(ctx, fmt.Sprintf("key/%04d", i), "small value"); err != nil {
				t.Fatal(err)
			}
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc here")
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fmt.Println("RSS_KB=" + strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
}

// BenchmarkKillMemberWithWatchers measures Member.Kill of a member that
// clients hold watch streams on, then its Restart.
func BenchmarkKillMemberWithWatchers(b *testing.B) {
	c := coordtest.NewCluster(b, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var kill, restart []time.Duration
	for b.Loop() {
		m := c.Member(0)
		for i := range 4 {
			m.Client().Watch(ctx, fmt.Sprintf("w/%d", i))
		}
		if _, err := m.Client().Put(ctx, "w/0", "x"); err != nil { // streams are up
			b.Fatal(err)
		}
		t0 := time.Now()
		m.Kill()
		kill = append(kill, time.Since(t0))
		t1 := time.Now()
		m.Restart()
		restart = append(restart, time.Since(t1))
	}
	b.ReportMetric(pct(kill, 0.5), "kill-p50-ms")
	b.ReportMetric(pct(restart, 0.5), "restart-p50-ms")
}
