package lock_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lock"
)

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The lease a Mutex grants for itself logs where the Mutex does: its loss
// is not only on slog.Default().
func TestOwnLeaseLogsToTheHandlesLogger(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out lockedBuffer
	m, err := lock.NewMutex(n.Client(), "logged", lock.WithTTL(2*time.Second),
		lock.WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	require.NoError(t, err)
	defer m.Close(ctx)
	h, err := m.Lock(ctx)
	require.NoError(t, err)
	_, err = n.Client().Revoke(ctx, h.Lease().ID())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Contains(out.String(), `msg="lease: lost"`) && strings.Contains(out.String(), fmt.Sprintf("lease=%x", int64(h.Lease().ID())))
	}, 20*time.Second, 20*time.Millisecond, "the lease's loss is logged to the Mutex's logger; got:\n%s", out.String())
}
