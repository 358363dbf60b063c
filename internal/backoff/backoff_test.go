package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestDelayGrowsWithinBoundsAndIsJittered(t *testing.T) {
	p := Policy{Initial: 8 * time.Millisecond, Max: 100 * time.Millisecond, Factor: 2}
	for attempt, want := range []time.Duration{8, 16, 32, 64, 100, 100} {
		want *= time.Millisecond
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Delay(attempt)
			require.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, want, "attempt %d", attempt)
			seen[d] = true
		}
		require.Greater(t, len(seen), 50, "delays for attempt %d are not jittered", attempt)
	}
}

func TestZeroPolicyHasDefaults(t *testing.T) {
	var p Policy
	d := p.Delay(0)
	require.GreaterOrEqual(t, d, 5*time.Millisecond)
	require.LessOrEqual(t, d, 10*time.Millisecond)
	require.LessOrEqual(t, p.Delay(100), 2*time.Second)
}

func TestBackoffIteratorAndReset(t *testing.T) {
	b := New(Policy{Initial: time.Millisecond, Max: time.Second})
	b.Next()
	b.Next()
	require.Equal(t, 2, b.Attempts())
	b.Reset()
	require.Equal(t, 0, b.Attempts())
	require.LessOrEqual(t, b.Next(), time.Millisecond)
}

func TestWaitStopsOnContext(t *testing.T) {
	b := New(Policy{Initial: time.Hour, Max: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, b.Wait(ctx), context.Canceled)
	require.NoError(t, New(Policy{Initial: time.Microsecond}).Wait(context.Background()))
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
