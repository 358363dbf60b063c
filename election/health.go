package election

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrUnhealthy is what Health.Check wraps when the Run loop it watches is
// not running, or has been failing to campaign for longer than its
// tolerance.
var ErrUnhealthy = errors.New("run loop unhealthy")

// Health tells a health probe whether a Run loop is doing its job, in the
// spirit of Kubernetes' leaderelection HealthzAdaptor: healthy while Run
// is leading or campaigning (waiting its turn, or retrying a campaign
// that failed for less than the tolerance); unhealthy before Run starts,
// after it returns, and when campaigns have kept failing (etcd
// unreachable, database full) for longer than the tolerance. Pass it to
// Run with WithHealth. It is safe for concurrent use.
type Health struct {
	tolerance time.Duration
	mu        sync.Mutex
	running   bool
	leading   *Term
	failing   time.Time // when the current run of failed campaigns began
	lastErr   error
	exitErr   error
}

// NewHealth returns a Health for one Run loop, tolerating failed campaigns
// for up to tolerance (at least the retry backoff's 2 s is sensible).
func NewHealth(tolerance time.Duration) *Health { return &Health{tolerance: tolerance} }

// WithHealth makes the Runner (or Run) report its state to h.
func WithHealth(h *Health) RunnerOption { return runnerOnly(func(o *options) { o.health = h }) }

// Check returns nil when the Run loop is healthy, an error wrapping
// ErrUnhealthy and saying why otherwise. It fits ops.CheckFunc.
func (h *Health) Check(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.running && h.exitErr != nil:
		return fmt.Errorf("election: health check: %w: Run returned: %w", ErrUnhealthy, h.exitErr)
	case !h.running:
		return fmt.Errorf("election: health check: %w: Run is not running", ErrUnhealthy)
	case h.leading != nil:
		if err := h.leading.Err(); err != nil {
			return fmt.Errorf("election: health check: %w: leadership ended and Run has not stepped down yet: %w", ErrUnhealthy, err)
		}
		return nil
	case !h.failing.IsZero() && time.Since(h.failing) > h.tolerance:
		return fmt.Errorf("election: health check: %w: campaigns failing for %v: %w", ErrUnhealthy, time.Since(h.failing).Round(time.Millisecond), h.lastErr)
	}
	return nil
}

// Leading reports whether the Run loop currently holds leadership.
func (h *Health) Leading() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leading != nil && h.leading.Err() == nil
}

func (h *Health) start() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.running, h.leading, h.failing, h.lastErr, h.exitErr = true, nil, time.Time{}, nil, nil
	h.mu.Unlock()
}

func (h *Health) stop(err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.running, h.leading, h.exitErr = false, nil, err
	h.mu.Unlock()
}

// campaigned records the outcome of one campaign (a term won, or an error),
// or a failed resignation that holds the next campaign back.
func (h *Health) campaigned(t *Term, err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		if h.failing.IsZero() {
			h.failing = time.Now()
		}
		h.lastErr = err
		return
	}
	h.leading, h.failing, h.lastErr = t, time.Time{}, nil
}

// demoted records the end of a term.
func (h *Health) demoted() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.leading = nil
	h.mu.Unlock()
}
