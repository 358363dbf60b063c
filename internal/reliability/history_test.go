package reliability_test

import (
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// history records operations for porcupine, timed on one monotonic clock.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.start)) }

// add records an operation called at call (from now) that returned now,
// or that never returned a known outcome (o.unknown): such an operation may
// take effect at any time after its call, so it returns at infinity.
func (h *history) add(client int, call int64, in input, o output) {
	ret := h.now()
	if o.unknown {
		ret = math.MaxInt64
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: o, Return: ret})
}

func (h *history) operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// check runs porcupine on the history. Unless the history is linearizable
// it writes porcupine's visualisation under the test's artifact directory
// (kept with go test -artifacts) and logs its path.
func (h *history) check(t *testing.T, timeout time.Duration) porcupine.CheckResult {
	t.Helper()
	ops := h.operations()
	began := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, timeout)
	t.Logf("porcupine: %d operations: %v in %v", len(ops), res, time.Since(began).Round(time.Millisecond))
	if res != porcupine.Ok {
		path := filepath.Join(t.ArtifactDir(), "linearizability.html")
		if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
			t.Errorf("porcupine visualisation: %v", err)
		} else {
			t.Logf("porcupine visualisation: %s (kept with go test -artifacts)", path)
		}
	}
	return res
}
