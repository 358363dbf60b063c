package soak

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// Environment variables read by Start.
const (
	// EnvDuration overrides the duration of every fault test, as a Go
	// duration ("90s", "2m").
	EnvDuration = "COORDKIT_SOAK"
	// EnvSeed fixes the seed of every fault test, a decimal int64.
	EnvSeed = "COORDKIT_SEED"
)

// Run is one fault test's duration and seeded randomness.
type Run struct {
	// Duration is how long the test injects faults.
	Duration time.Duration
	// Seed determines Rand and the fault schedule.
	Seed int64
	// Rand is the test's source of randomness, seeded with Seed. It is not
	// safe for concurrent use: draw from it in the test goroutine.
	Rand *rand.Rand

	t testing.TB
}

// Start returns the run's duration (short unless COORDKIT_SOAK is set) and
// seed (COORDKIT_SEED, or a fresh one), logs both, and makes a failing test
// print how to replay it. A malformed variable fails the test.
func Start(t testing.TB, short time.Duration) *Run {
	t.Helper()
	d := short
	if s := os.Getenv(EnvDuration); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			t.Fatalf("soak: %s=%q: want a positive Go duration such as 90s or 2m", EnvDuration, s)
		}
		d = v
	}
	seed := rand.Int64()
	if s := os.Getenv(EnvSeed); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("soak: %s=%q: want a decimal integer such as 123", EnvSeed, s)
		}
		seed = v
	}
	r := &Run{Duration: d, Seed: seed, Rand: rand.New(rand.NewPCG(uint64(seed), 0x5eed)), t: t}
	t.Logf("soak: duration %v, seed %d", d, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("soak: FAILED with seed %d; replay with: %s", seed, r.Replay())
		}
	})
	return r
}

// Replay is the command line that runs this test again with the same
// seed and duration (go test runs a package's tests in its directory).
func (r *Run) Replay() string {
	dir, err := os.Getwd()
	if err != nil {
		dir = "."
	}
	return fmt.Sprintf("%s=%d %s=%v go test -count=1 -run '^%s$' %s", EnvSeed, r.Seed, EnvDuration, r.Duration, r.t.Name(), dir)
}
