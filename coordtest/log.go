package coordtest

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// testLog keeps a test's etcd logs in memory and prints them only if the
// test failed, so passing tests stay quiet.
type testLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines int
}

const maxLogBytes = 1 << 20

func newTestLog(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTestLogWriter(t), &slog.HandlerOptions{Level: level}))
}

// newTestLogWriter returns the writer behind newTestLog, for output that
// is already formatted, such as an etcd process's.
func newTestLogWriter(t testing.TB) *testLog {
	l := &testLog{}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.buf.Len() > 0 {
				t.Logf("etcd logs (%d lines, last %d bytes at most):\n%s", l.lines, maxLogBytes, l.buf.String())
			}
		}
	})
	return l
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len()+len(p) > maxLogBytes {
		b := l.buf.Bytes()
		keep := b[len(b)/2:]
		if i := bytes.IndexByte(keep, '\n'); i >= 0 {
			keep = keep[i+1:]
		}
		l.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	l.lines++
	return l.buf.Write(p)
}

// String returns the output kept so far.
func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
