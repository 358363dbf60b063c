package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
)

// SnapshotInfo describes a saved snapshot.
type SnapshotInfo struct {
	// Size is the number of bytes written: the database followed by its
	// 32-byte SHA-256 trailer, the format `etcdctl snapshot save` writes and
	// `etcdutl snapshot restore` reads.
	Size int64
	// SHA256 is the database's hash, as found in the trailer and checked.
	SHA256 [sha256.Size]byte
	// Version is the storage version of the etcd member that produced the
	// snapshot, for example "3.7.0"; empty while a new member has not
	// recorded it yet (etcd does so shortly after it starts).
	Version string
	// Took is how long the transfer took.
	Took time.Duration
}

// SaveSnapshot streams a point-in-time snapshot of the member cli reaches
// to w (what `etcdctl snapshot save` does) and checks its integrity hash:
// the bytes received must match the SHA-256 trailer etcd appends. w gets
// every byte, trailer included, so what it stores can be restored with
// node.StartFromSnapshot or `etcdutl snapshot restore`.
//
// With a client of several endpoints, the snapshot comes from whichever
// member answers; use a client of one endpoint to pick the member. An
// in-process client (node.Node.Client) snapshots its own member.
//
// Errors wrap ErrSnapshotCorrupt when the stream does not match its hash,
// the etcd or write error otherwise. On error, w may hold part of the
// snapshot: discard it.
func SaveSnapshot(ctx context.Context, cli *clientv3.Client, w io.Writer) (SnapshotInfo, error) {
	if cli == nil {
		return SnapshotInfo{}, fmt.Errorf("ops: save snapshot: %w", errs.NilClient)
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := cli.SnapshotWithVersion(ctx)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("ops: save snapshot: %w", err)
	}
	defer resp.Snapshot.Close()
	tw := newTrailerWriter(w)
	n, err := io.Copy(tw, resp.Snapshot)
	info := SnapshotInfo{Size: n, Version: resp.Version, Took: time.Since(start)}
	if err != nil {
		return info, fmt.Errorf("ops: save snapshot: after %d bytes: %w", n, err)
	}
	sum, err := tw.verify()
	if err != nil {
		return info, fmt.Errorf("ops: save snapshot of %d bytes: %w", n, err)
	}
	info.SHA256 = sum
	return info, nil
}

// SaveSnapshotFile saves a snapshot like SaveSnapshot into path, through a
// temporary file in the same directory that is synced and renamed into
// place only once the hash matched: path is either the complete, verified
// snapshot or untouched. An existing file at path is replaced.
func SaveSnapshotFile(ctx context.Context, cli *clientv3.Client, path string) (_ SnapshotInfo, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("ops: save snapshot to %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	info, err := SaveSnapshot(ctx, cli, f)
	if err != nil {
		return info, fmt.Errorf("%w (nothing written to %s)", err, path)
	}
	if err := f.Sync(); err != nil {
		return info, fmt.Errorf("ops: save snapshot to %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return info, fmt.Errorf("ops: save snapshot to %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return info, fmt.Errorf("ops: save snapshot to %s: %w", path, err)
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		_ = d.Sync() // make the rename durable; best effort where unsupported
		d.Close()
	}
	return info, nil
}

// VerifySnapshotFile checks that the snapshot file at path ends with the
// SHA-256 of the rest, as one saved by SaveSnapshotFile or `etcdctl
// snapshot save` does, and returns that hash. A truncated or altered file
// fails with ErrSnapshotCorrupt.
func VerifySnapshotFile(path string) ([sha256.Size]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("ops: verify snapshot: %w", err)
	}
	defer f.Close()
	tw := newTrailerWriter(io.Discard)
	if _, err := io.Copy(tw, f); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("ops: verify snapshot %s: %w", path, err)
	}
	sum, err := tw.verify()
	if err != nil {
		return sum, fmt.Errorf("ops: verify snapshot %s: %w", path, err)
	}
	return sum, nil
}

// snapshotAlign is etcd's rule for telling a snapshot with a trailer apart:
// the database is a whole number of 512-byte sectors, so the file's size
// modulo 512 is the trailer's size.
const snapshotAlign = 512

// trailerWriter passes everything to w while hashing all but the last
// sha256.Size bytes seen, which it keeps as the trailer.
type trailerWriter struct {
	w    io.Writer
	h    hash.Hash
	tail []byte // the last bytes seen, at most sha256.Size
	n    int64
}

func newTrailerWriter(w io.Writer) *trailerWriter {
	return &trailerWriter{w: w, h: sha256.New(), tail: make([]byte, 0, sha256.Size)}
}

func (t *trailerWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	p = p[:n]
	t.n += int64(n)
	if len(p) >= sha256.Size {
		t.h.Write(t.tail)
		t.h.Write(p[:len(p)-sha256.Size])
		t.tail = append(t.tail[:0], p[len(p)-sha256.Size:]...)
	} else {
		// Hash what falls out of the tail window.
		over := len(t.tail) + len(p) - sha256.Size
		if over > 0 {
			t.h.Write(t.tail[:over])
			t.tail = append(t.tail[:0], t.tail[over:]...)
		}
		t.tail = append(t.tail, p...)
	}
	return n, err
}

// verify checks the trailer against the hash of the bytes before it.
func (t *trailerWriter) verify() ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if t.n%snapshotAlign != sha256.Size {
		return sum, fmt.Errorf("%w: %d bytes is not a database of whole 512-byte sectors followed by a 32-byte SHA-256 trailer (truncated?)", ErrSnapshotCorrupt, t.n)
	}
	copy(sum[:], t.h.Sum(nil))
	if !bytes.Equal(sum[:], t.tail) {
		return sum, fmt.Errorf("%w: SHA-256 of the database is %x, the trailer says %x", ErrSnapshotCorrupt, sum, t.tail)
	}
	return sum, nil
}
