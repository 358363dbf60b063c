package watchresume

import (
	"github.com/coordkit/coordkit/internal/etcderr"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
)

// ErrClientClosed is returned by Next when the etcd client was closed under
// the Stream.
var ErrClientClosed = errors.New("etcd client closed")

// Config says what a Stream watches and how.
type Config struct {
	// Range is the watched key range.
	Range Range
	// Revision is the first revision whose changes are delivered. 0 means
	// "after now": Open reads the current revision and every change after it
	// is delivered.
	Revision int64
	// Snapshot makes Open list the range and Next deliver that state first, as
	// a Resync Update, then every change after it. Revision must be 0.
	Snapshot bool
	// PrevKV asks etcd for each event's previous key-value.
	PrevKV bool
	// FilterPut asks etcd for deletions only (a resync still lists every
	// key).
	FilterPut bool
	// PageSize is the List page size for resyncs; 0 sizes pages by bytes
	// (see ListOptions).
	PageSize int64
	// Backoff paces re-opening a broken watch; the zero Policy is
	// 20 ms doubling to 1 s here.
	Backoff backoff.Policy
	// Logger receives retries (debug) and resyncs (info); nil discards them.
	Logger *slog.Logger
	// OnResume, if set, is called each time a broken watch is reopened
	// from the last revision delivered; OnResync each time a resync after
	// compaction is delivered. For metrics.
	OnResume, OnResync func()
}

// Update is what Next hands out: either a batch of events or a resync.
type Update struct {
	// Events are changes in revision order, all after the previous Update's
	// Revision. Empty for a resync.
	Events []*clientv3.Event
	// Resync is set when KVs is the whole state of the range at Revision and
	// replaces whatever the caller knew: the changes between the last Update
	// and Revision were compacted away and are not delivered.
	Resync bool
	// KVs is the state at Revision when Resync is set.
	KVs []*mvccpb.KeyValue
	// Revision is the revision of the last event, or of the listed state.
	Revision int64
	// CompactRevision is, for a resync caused by compaction, the revision
	// etcd had compacted to; 0 otherwise.
	CompactRevision int64
}

// Stream is a self-healing watch on a key range. Next is meant to be called
// from one goroutine; Close may be called from any.
type Stream struct {
	ctx    context.Context
	cancel context.CancelFunc
	cli    *clientv3.Client
	cfg    Config
	log    *slog.Logger
	bo     *backoff.Backoff

	lastRev     int64 // every change up to lastRev has been delivered
	resync      bool  // next Update must be a resync
	compactRev  int64
	compacted   int64   // etcd's compaction revision when it refused a watch from lastRev
	first       *Update // a Snapshot taken by Open, not yet delivered
	wch         clientv3.WatchChan
	watchCancel context.CancelFunc
	opened      bool // a watch was opened before: opening again resumes
}

// Open starts a Stream. It returns once the Stream's starting revision is
// fixed (and, with Snapshot, the range is listed), so no change committed
// after Open returns can be missed. The Stream lives until ctx ends or Close.
func Open(ctx context.Context, cli *clientv3.Client, cfg Config) (*Stream, error) {
	switch {
	case cli == nil:
		return nil, errors.New("nil client")
	case cfg.Revision < 0:
		return nil, fmt.Errorf("negative start revision %d", cfg.Revision)
	case cfg.Snapshot && cfg.Revision != 0:
		return nil, errors.New("Snapshot and a start Revision exclude each other")
	}
	if cfg.Backoff == (backoff.Policy{}) {
		cfg.Backoff = backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second}
	}
	s := &Stream{cli: cli, cfg: cfg, log: cfg.Logger, bo: backoff.New(cfg.Backoff)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Snapshot:
		kvs, rev, err := List(ctx, cli, cfg.Range, ListOptions{PageSize: cfg.PageSize})
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", cfg.Range.Key, err)
		}
		s.first = &Update{Resync: true, KVs: kvs, Revision: rev}
		s.lastRev = rev
	case cfg.Revision == 0:
		// Any single-key read tells the store's current revision.
		resp, err := cli.Get(ctx, cfg.Range.Key, clientv3.WithCountOnly())
		if err != nil {
			return nil, fmt.Errorf("read current revision: %w", err)
		}
		s.lastRev = resp.Header.Revision
	default:
		s.lastRev = cfg.Revision - 1
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	return s, nil
}

// Revision is the revision up to which every change has been delivered.
func (s *Stream) Revision() int64 { return s.lastRev }

// Close stops the Stream and releases its watch (the watch's context derives
// from the Stream's). It is idempotent and safe from any goroutine; Next
// returns context.Canceled afterwards.
func (s *Stream) Close() { s.cancel() }

// Next blocks until the next Update. Its error is final: the Stream's context
// ended (the context's cause), the client was closed (ErrClientClosed), or
// etcd refused the watch for a reason retrying cannot fix.
func (s *Stream) Next() (Update, error) {
	if u := s.first; u != nil {
		s.first = nil
		return *u, nil
	}
	for {
		if err := s.stopped(); err != nil {
			s.closeWatch()
			return Update{}, err
		}
		if s.resync {
			u, err := s.relist()
			if err == nil {
				s.opened = false // the watch reopened after a resync is no resume
				if s.cfg.OnResync != nil {
					s.cfg.OnResync()
				}
				return u, nil
			}
			if permanent(err) {
				return Update{}, err
			}
			s.log.Debug("resync failed, retrying", "key", s.cfg.Range.Key, "err", err)
			s.wait()
			continue
		}
		if s.wch == nil {
			if s.opened && s.cfg.OnResume != nil {
				s.cfg.OnResume()
			}
			s.opened = true
			s.openWatch()
		}
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-s.wch:
		case <-s.ctx.Done():
			continue
		}
		switch {
		case !ok:
			s.closeWatch()
			if s.stopped() == nil {
				s.log.Debug("watch channel closed, resuming", "key", s.cfg.Range.Key, "from", s.lastRev+1)
				s.wait()
			}
			continue
		case resp.CompactRevision != 0 && resp.CompactRevision == s.lastRev+1 && s.compacted <= s.lastRev:
			// Watch started at lastRev, which is compacted; lastRev+1,
			// the first revision wanted, is not: nothing is lost.
			s.closeWatch()
			s.compacted = resp.CompactRevision
			continue
		case resp.CompactRevision != 0:
			s.closeWatch()
			s.resync, s.compactRev = true, resp.CompactRevision
			s.log.Info("history compacted, resyncing", "key", s.cfg.Range.Key,
				"wanted", s.lastRev+1, "compacted", resp.CompactRevision)
			continue
		case resp.Err() != nil:
			err := resp.Err()
			s.closeWatch()
			if permanent(err) {
				return Update{}, fmt.Errorf("watch %q: %w", s.cfg.Range.Key, err)
			}
			s.log.Debug("watch failed, resuming", "key", s.cfg.Range.Key, "from", s.lastRev+1, "err", err)
			s.wait()
			continue
		case resp.IsProgressNotify():
			s.lastRev = max(s.lastRev, resp.Header.Revision)
			continue
		}
		evs := Fresh(resp.Events, s.lastRev)
		if len(evs) == 0 {
			continue
		}
		s.lastRev = evs[len(evs)-1].Kv.ModRevision
		s.bo.Reset()
		return Update{Events: evs, Revision: s.lastRev}, nil
	}
}

func (s *Stream) relist() (Update, error) {
	kvs, rev, err := List(s.ctx, s.cli, s.cfg.Range, ListOptions{PageSize: s.cfg.PageSize})
	if err != nil {
		return Update{}, fmt.Errorf("resync %q: %w", s.cfg.Range.Key, err)
	}
	u := Update{Resync: true, KVs: kvs, Revision: rev, CompactRevision: s.compactRev}
	s.resync, s.compactRev, s.lastRev = false, 0, rev
	s.bo.Reset()
	return u, nil
}

func (s *Stream) openWatch() {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(s.ctx))
	opts := []clientv3.OpOption{clientv3.WithProgressNotify()}
	if s.cfg.PrevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if s.cfg.FilterPut {
		opts = append(opts, clientv3.WithFilterPut())
	}
	s.wch, s.watchCancel = Watch(ctx, s.cli, s.cfg.Range, s.lastRev, s.compacted, opts...), cancel
}

func (s *Stream) closeWatch() {
	if s.watchCancel != nil {
		s.watchCancel()
		s.watchCancel, s.wch = nil, nil
	}
}

// stopped reports why the Stream cannot go on, or nil.
func (s *Stream) stopped() error {
	if s.ctx.Err() != nil {
		return context.Cause(s.ctx)
	}
	if ctx := s.cli.Ctx(); ctx.Err() != nil {
		// A client cancelled with a cause of its own (an embedded node's
		// in-process client once the node stopped) says why.
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return fmt.Errorf("%w: %w", ErrClientClosed, cause)
		}
		return ErrClientClosed
	}
	return nil
}

func (s *Stream) wait() { _ = s.bo.Wait(s.ctx) }

// permanent reports errors a retry cannot fix.
func permanent(err error) bool {
	return errors.Is(err, ErrClientClosed) || etcderr.Permanent(err)
}
