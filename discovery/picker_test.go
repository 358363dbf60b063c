package discovery_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/discovery"
)

func TestRoundRobinTakesTurnsAndSkipsDraining(t *testing.T) {
	t.Parallel()
	src := discovery.Static{
		{Service: "s", ID: "a", Addr: "a:1"},
		{Service: "s", ID: "b", Addr: "b:1", Draining: true},
		{Service: "s", ID: "c", Addr: "c:1"},
	}
	p := discovery.NewRoundRobin(src)
	var got []string
	for range 6 {
		in, done, err := p.Pick()
		require.NoError(t, err)
		done()
		got = append(got, in.ID)
	}
	require.Equal(t, []string{"a", "c", "a", "c", "a", "c"}, got)
}

func TestPickersWithNothingAvailable(t *testing.T) {
	t.Parallel()
	for _, src := range []discovery.Source{discovery.Static{}, discovery.Static{{ID: "a", Addr: "a:1", Draining: true}}} {
		for _, p := range []discovery.Picker{discovery.NewRoundRobin(src), discovery.NewRandom(src), discovery.NewPowerOfTwo(src)} {
			_, done, err := p.Pick()
			require.ErrorIs(t, err, discovery.ErrNoInstances)
			require.Contains(t, err.Error(), "draining")
			done()
		}
	}
}

// Random follows weights: with weights 1 and 9 over 10,000 picks, the
// heavy instance gets 9,000 ± a margin of over 10 standard deviations
// (σ = 30).
func TestRandomFollowsWeights(t *testing.T) {
	t.Parallel()
	p := discovery.NewRandom(discovery.Static{
		{ID: "light", Addr: "l:1"}, // weight 0 counts as 1
		{ID: "heavy", Addr: "h:1", Weight: 9},
		{ID: "off", Addr: "o:1", Weight: 100, Draining: true},
	})
	counts := map[string]int{}
	for range 10000 {
		in, done, err := p.Pick()
		require.NoError(t, err)
		done()
		counts[in.ID]++
	}
	require.Zero(t, counts["off"])
	require.InDelta(t, 9000, counts["heavy"], 400, "counts: %v", counts)
}

// Power of two choices sends new requests away from loaded instances:
// with two instances both are always drawn, so the choice is exact.
func TestPowerOfTwoPrefersLessLoaded(t *testing.T) {
	t.Parallel()
	p := discovery.NewPowerOfTwo(discovery.Static{{ID: "a", Addr: "a:1"}, {ID: "b", Addr: "b:1", Weight: 2}})
	var dones []func()
	counts := map[string]int{}
	for range 30 { // nothing finishes: load builds up
		in, done, err := p.Pick()
		require.NoError(t, err)
		counts[in.ID]++
		dones = append(dones, done)
	}
	require.Equal(t, map[string]int{"a": 10, "b": 20}, counts, "in flight per unit of weight stays level")
	for _, done := range dones {
		done()
		done() // idempotent
	}
	// All finished: loads are level again at zero.
	counts = map[string]int{}
	for range 3 {
		in, _, err := p.Pick()
		require.NoError(t, err)
		counts[in.ID]++
	}
	require.Equal(t, 3, counts["a"]+counts["b"])
}

// Weights come from etcd, written by anyone: weights so large that their
// sum overflows an int must not make a picker panic.
func TestPickersSurviveHugeWeights(t *testing.T) {
	t.Parallel()
	const huge = int(^uint(0) >> 1) // math.MaxInt
	src := discovery.Static{
		{ID: "a", Addr: "a:1", Weight: huge},
		{ID: "b", Addr: "b:1", Weight: huge},
		{ID: "c", Addr: "c:1", Weight: 1},
	}
	for _, p := range []discovery.Picker{discovery.NewRandom(src), discovery.NewPowerOfTwo(src)} {
		for range 200 {
			_, done, err := p.Pick()
			require.NoError(t, err)
			done()
		}
	}
	// Random still follows the weights: "c" weighs nothing beside the others.
	p := discovery.NewRandom(src)
	for range 1000 {
		in, done, err := p.Pick()
		require.NoError(t, err)
		done()
		require.NotEqual(t, "c", in.ID)
	}
}
