package soak

import (
	"context"
	"time"

	"github.com/coordkit/coordkit/coordtest"
)

// Inject applies faults to c at their offsets from now, each undone when
// it ends, and returns after the last (or when ctx ends, undoing the
// fault under way). Call it from the test goroutine: restarting a member
// can fail the test. It logs each fault, and returns the faults applied.
func (r *Run) Inject(ctx context.Context, c *coordtest.Cluster, faults []Fault) int {
	r.t.Helper()
	start := time.Now()
	applied := 0
	for _, f := range faults {
		if !sleepUntil(ctx, start.Add(f.At)) {
			return applied
		}
		m := c.Member(f.Member)
		if f.Kind == KillLeader {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			i, err := c.WaitLeader(lctx)
			cancel()
			if err != nil {
				r.t.Logf("soak: %v: skipped: %v", f, err)
				continue
			}
			m = c.Member(i)
		}
		r.t.Logf("soak: %v: %v", f, m)
		undo := apply(c, m, f.Kind)
		sleepUntil(ctx, start.Add(f.At+f.For))
		undo()
		applied++
	}
	return applied
}

func apply(c *coordtest.Cluster, m *coordtest.Member, k Kind) (undo func()) {
	switch k {
	case Kill, KillLeader:
		m.Kill()
		return m.Restart
	case Partition:
		c.Partition(m.Index())
		return c.Heal
	case Blackhole:
		m.Link().Blackhole()
		return m.Link().Unblackhole
	case Drop:
		m.Link().DropConnections()
		return m.Link().DropConnections
	case Delay:
		m.Link().Delay(50*time.Millisecond, 25*time.Millisecond)
		return m.Link().Undelay
	}
	return func() {}
}

// sleepUntil waits until t or the end of ctx, and reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
