package soak_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/internal/soak"
)

func TestSameSeedSameSchedule(t *testing.T) {
	t.Setenv(soak.EnvSeed, "123")
	t.Setenv(soak.EnvDuration, "30s")
	a, b := soak.Start(t, time.Second), soak.Start(t, time.Second)
	require.Equal(t, 30*time.Second, a.Duration)
	require.EqualValues(t, 123, a.Seed)
	a.Rand.Int64() // drawing from Rand does not shift the schedule
	sa, sb := a.Schedule(3, soak.DefaultTiming), b.Schedule(3, soak.DefaultTiming)
	require.NotEmpty(t, sa)
	require.Equal(t, sa, sb)
	for _, f := range sa {
		require.LessOrEqual(t, f.At+f.For, a.Duration)
		require.Less(t, f.Member, 3)
	}

	t.Setenv(soak.EnvSeed, "124")
	require.NotEqual(t, sa, soak.Start(t, time.Second).Schedule(3, soak.DefaultTiming))
}

func TestDefaultsWithoutEnvironment(t *testing.T) {
	t.Setenv(soak.EnvSeed, "")
	t.Setenv(soak.EnvDuration, "")
	r := soak.Start(t, 2*time.Second)
	require.Equal(t, 2*time.Second, r.Duration)
	for _, f := range r.Schedule(3, soak.DefaultTiming, soak.Partition) {
		require.Equal(t, soak.Partition, f.Kind)
	}
}
