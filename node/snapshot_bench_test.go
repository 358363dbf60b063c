package node_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/ops"
)

// BenchmarkSnapshot measures snapshot save and restore throughput on about
// 100 MiB of data (1,600 values of 64 KiB), against `etcdctl snapshot save`
// and `etcdctl snapshot restore` on the same node in the same run. Each
// iteration does every operation once, in turn; figures are MB/s of the
// database size (MB = 10^6 bytes). fsync is on, as in production.
//
//	go test -run '^$' -bench Snapshot -benchtime 3x .
func BenchmarkSnapshot(b *testing.B) {
	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		b.Skip("etcdctl not installed")
	}
	ctx := context.Background()
	cfg := fast("bench-snapshot")
	cfg.UnsafeNoFsync = false
	cfg.QuotaBackendBytes = 1 << 30
	n, err := node.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	value := string(make([]byte, 64<<10))
	for i := range 1600 {
		if _, err := n.Client().Put(ctx, fmt.Sprintf("data/%04d", i), value); err != nil {
			b.Fatal(err)
		}
	}
	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints()})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	dir := b.TempDir()
	var size float64
	var oursGRPC, oursLocal, theirs, restoreOurs, restoreTheirs time.Duration
	timed := func(acc *time.Duration, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*acc += time.Since(start)
	}
	b.ResetTimer()
	for i := range b.N {
		ours, local, theirsPath := filepath.Join(dir, "ours.db"), filepath.Join(dir, "local.db"), filepath.Join(dir, "etcdctl.db")
		timed(&oursGRPC, func() error {
			info, err := ops.SaveSnapshotFile(ctx, cli, ours)
			size = float64(info.Size)
			return err
		})
		timed(&theirs, func() error {
			out, err := exec.Command(etcdctl, "--endpoints", n.Endpoints()[0], "snapshot", "save", theirsPath).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		timed(&oursLocal, func() error { _, err := n.SaveSnapshotFile(ctx, local); return err })
		rcfg := fast(fmt.Sprintf("restored-%d", i))
		rcfg.UnsafeNoFsync = false
		rcfg.QuotaBackendBytes = 1 << 30
		rcfg.Dir = filepath.Join(dir, fmt.Sprintf("ours-%d", i))
		timed(&restoreOurs, func() error {
			r, err := node.StartFromSnapshot(ctx, ours, rcfg)
			if err != nil {
				return err
			}
			return r.Close()
		})
		timed(&restoreTheirs, func() error {
			out, err := exec.Command(etcdctl, "snapshot", "restore", theirsPath, "--data-dir", filepath.Join(dir, fmt.Sprintf("theirs-%d", i))).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		for _, p := range []string{rcfg.Dir, filepath.Join(dir, fmt.Sprintf("theirs-%d", i))} {
			if err := os.RemoveAll(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	mbps := func(d time.Duration) float64 { return size * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(size/1e6, "MB")
	b.ReportMetric(mbps(oursGRPC), "save-grpc-MB/s")
	b.ReportMetric(mbps(oursLocal), "save-inproc-MB/s")
	b.ReportMetric(mbps(theirs), "etcdctl-save-MB/s")
	b.ReportMetric(mbps(restoreOurs), "restore+start-MB/s")
	b.ReportMetric(mbps(restoreTheirs), "etcdctl-restore-MB/s")
}
