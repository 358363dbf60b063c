// Package backoff is coordkit's one implementation of jittered exponential
// backoff, shared by every retry loop in the repository (kv updates, lease
// supervision, registration, election re-campaigns).
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy describes a backoff schedule. The zero value is usable and means
// 10 ms initial delay, doubling, capped at 2 s, with full jitter.
type Policy struct {
	Initial time.Duration // first delay; default 10ms
	Max     time.Duration // cap on any delay; default 2s
	Factor  float64       // growth per attempt; default 2
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = 10 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 2 * time.Second
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.Factor < 1 {
		p.Factor = 2
	}
	return p
}

// Delay returns the jittered delay before retry number attempt (0-based):
// a uniformly random duration in [d/2, d], where d grows by Factor per
// attempt up to Max. Half-jitter keeps retries spread out without ever
// retrying immediately.
func (p Policy) Delay(attempt int) time.Duration {
	p = p.withDefaults()
	d := float64(p.Initial)
	for i := 0; i < attempt && d < float64(p.Max); i++ {
		d *= p.Factor
	}
	if d > float64(p.Max) {
		d = float64(p.Max)
	}
	half := d / 2
	return time.Duration(half + rand.Float64()*half)
}

// Backoff is a stateful iterator over a Policy. It is not goroutine-safe;
// each retry loop owns one.
type Backoff struct {
	Policy
	attempt int
}

// New returns a Backoff following p.
func New(p Policy) *Backoff { return &Backoff{Policy: p} }

// Next returns the next delay and advances the attempt counter.
func (b *Backoff) Next() time.Duration {
	d := b.Delay(b.attempt)
	b.attempt++
	return d
}

// Attempts reports how many delays Next has handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Reset starts the schedule over, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for the next delay or until ctx ends, whichever is first. It
// returns ctx.Err() if ctx ended.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
