package node

import (
	"strings"
	"sync"

	"go.uber.org/zap/zapcore"
)

// startWatch collects, during start-up, what etcd's warnings say about
// peers, so a timeout can say why the member is not ready.
type startWatch struct {
	mu        sync.Mutex
	mismatch  string // first "cluster ID mismatch" style warning seen
	mismatchC chan struct{}
}

func newStartWatch() *startWatch { return &startWatch{mismatchC: make(chan struct{})} }

func (w *startWatch) hook(msg string, fs []zapcore.Field) {
	if !strings.Contains(msg, "cluster ID mismatch") && !strings.Contains(msg, "mismatch cluster ID") {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mismatch == "" {
		w.mismatch = msg
		for _, f := range fs {
			if f.Key == "remote-peer-id" || f.Key == "remote-peer-cluster-id" || f.Key == "local-member-cluster-id" {
				w.mismatch += " " + f.Key + "=" + f.String
			}
		}
		close(w.mismatchC)
	}
}

func (w *startWatch) mismatchReason() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mismatch
}
