package coordkit

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
)

// etcd's gRPC client authenticates a watch stream once, when it opens it,
// and multiplexes every later watch with the same context metadata onto
// that stream. Once the token expires (JWT tokens after their TTL, simple
// ones when unused or when their member restarts) or an auth change makes
// it stale, every new watch on the stream is refused ("invalid auth
// token"), while unary calls renew the token and carry on. reauthWatcher
// re-creates a watch refused that way on a new stream, which the client
// opens with a fresh token, so watches keep working across token expiry.

// watchStreamKey is the outgoing metadata key that separates the streams
// of successive token generations.
const watchStreamKey = "coordkit-watch-stream"

type reauthWatcher struct {
	clientv3.Watcher
	closed <-chan struct{} // the client's context: done once it is closed
	epoch  atomic.Uint64   // current stream generation
}

func newReauthWatcher(cli *clientv3.Client) *reauthWatcher {
	return &reauthWatcher{Watcher: cli.Watcher, closed: cli.Ctx().Done()}
}

// staleTokenCancel reports whether a watch was refused for its token.
func staleTokenCancel(resp clientv3.WatchResponse) bool {
	if !resp.Canceled || resp.Err() == nil {
		return false
	}
	// etcd's client reports the refusal as text (the server's cancel
	// reason), not as a typed error.
	reason := resp.Err().Error()
	for _, e := range []error{rpctypes.ErrGRPCInvalidAuthToken, rpctypes.ErrGRPCAuthOldRevision, rpctypes.ErrGRPCUserEmpty} {
		if strings.Contains(reason, rpctypes.ErrorDesc(e)) {
			return true
		}
	}
	return false
}

func (w *reauthWatcher) streamCtx(ctx context.Context, epoch uint64) context.Context {
	if epoch == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, watchStreamKey, strconv.FormatUint(epoch, 10))
}

// Watch is clientv3's Watch, re-created on a fresh stream (at most a few
// times in a row) when etcd refuses it for a stale token.
func (w *reauthWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	out := make(chan clientv3.WatchResponse)
	// The first attempt starts before Watch returns, as clientv3's does,
	// so a write made after Watch returns is not missed.
	epoch := w.epoch.Load()
	in := w.Watcher.Watch(w.streamCtx(ctx, epoch), key, opts...)
	go func() {
		defer close(out)
		for attempt := 0; ; attempt++ {
			if attempt > 0 {
				epoch = w.epoch.Load()
				in = w.Watcher.Watch(w.streamCtx(ctx, epoch), key, opts...)
			}
			retry, first := false, true
			for resp := range in {
				if first && attempt < 3 && staleTokenCancel(resp) && ctx.Err() == nil {
					w.epoch.CompareAndSwap(epoch, epoch+1) // later watches use the new stream too
					retry = true
					continue // drain: the refused watch's channel closes next
				}
				first = false
				select {
				case out <- resp:
				case <-ctx.Done():
				case <-w.closed: // nobody may read any more; keep draining
				}
			}
			if !retry {
				return
			}
		}
	}()
	return out
}
