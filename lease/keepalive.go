package lease

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// KeepAlive starts keeping the lease alive in the background until ctx ends,
// the lease is lost, or Revoke or Close is called. It returns at once;
// watch Done and Err for the outcome. Calling it again is a no-op.
//
// A renewal is sent every TTL/3. A failed renewal is retried with backoff
// until the Deadline; if none succeeds by then, Done closes with
// ErrDeadlinePassed. If etcd answers that the lease does not exist (it
// expired, or was revoked elsewhere), Done closes with ErrExpired;
// if the client can send nothing more (it was closed, or it is an embedded
// node's in-process client whose node stopped), Done closes at once with
// ErrClientStopped. If ctx ends first, Done closes with an error wrapping
// ctx.Err(); Revoke and Close close it with ErrRevoked and ErrClosed.
func (l *Lease) KeepAlive(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.err != nil {
		return
	}
	l.started = true
	ctx, cancel := context.WithCancelCause(ctx)
	l.stop = func() { cancel(errHalted) }
	l.loopDone = make(chan struct{})
	go l.keepAlive(ctx)
}

// errHalted is the cause with which Revoke and Close stop the loop.
var errHalted = errors.New("halted")

func (l *Lease) keepAlive(ctx context.Context) {
	defer close(l.loopDone)
	interval := l.ttl / 3
	if interval < 100*time.Millisecond {
		interval = 100 * time.Millisecond
	}
	retry := backoff.New(backoff.Policy{Initial: 50 * time.Millisecond, Max: interval})
	next := time.Duration(0) // renew at once: the grant may be old
	for {
		deadline := l.Deadline()
		wait := time.NewTimer(min(next, time.Until(deadline)))
		select {
		case <-ctx.Done():
			wait.Stop()
			if context.Cause(ctx) == errHalted {
				return // Revoke or Close decides what Err says
			}
			l.lose(fmt.Errorf("lease: %x: keep-alive stopped: %w", int64(l.id), context.Cause(ctx)))
			return
		case <-l.cli.Ctx().Done():
			// A closed client sends nothing: say so now, rather than
			// retrying "connection is closing" until the deadline.
			wait.Stop()
			l.lost(fmt.Errorf("lease: %x: %w: %w", int64(l.id), ErrClientStopped, etcderr.WrapMemberStopped(etcderr.ClientClosed(l.cli))))
			return
		case <-wait.C:
		}
		if !time.Now().Before(deadline) {
			l.lost(fmt.Errorf("lease: %x: %w: no renewal confirmed since the deadline %s", int64(l.id), ErrDeadlinePassed, deadline.Format(time.RFC3339Nano)))
			return
		}
		// A renewal that has not come back by the deadline is useless.
		rctx, cancel := context.WithDeadline(ctx, deadline)
		var sent time.Time
		if l.metrics != nil {
			sent = time.Now()
		}
		_, err := l.renew(rctx)
		cancel()
		switch {
		case err == nil:
			if l.metrics != nil {
				l.metrics.keepalive.Observe(time.Since(sent).Seconds())
			}
			retry.Reset()
			next = interval
		case errors.Is(err, ErrExpired):
			l.lost(fmt.Errorf("lease: %x: %w", int64(l.id), ErrExpired))
			return
		case errors.Is(err, etcderr.ErrClientStopped):
			l.lost(fmt.Errorf("lease: %x: %w: %w", int64(l.id), ErrClientStopped, err))
			return
		case etcderr.ClientClosed(l.cli) != nil:
			l.lost(fmt.Errorf("lease: %x: %w: %w", int64(l.id), ErrClientStopped, etcderr.WrapMemberStopped(etcderr.ClientClosed(l.cli))))
			return
		case ctx.Err() != nil:
			// handled at the top of the loop
			next = 0
		default:
			next = retry.Next()
			l.log.Debug("lease: renewal failed, retrying", "lease", l.hexID(), "retry_in", next, "err", err)
		}
	}
}

// lost ends the lease for err, a loss the keep-alive found, and logs it.
// (Revoke, Close and the end of KeepAlive's context are the owner's doing:
// they call lose.)
func (l *Lease) lost(err error) {
	l.log.Warn("lease: lost", "lease", l.hexID(), "err", err)
	l.lose(err)
}

// hexID is the lease ID as etcdctl prints it.
func (l *Lease) hexID() string { return strconv.FormatInt(int64(l.id), 16) }
