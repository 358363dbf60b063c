package kv

import (
	"math"
	"time"
)

// latency steers how many txns a Batcher keeps in flight from the latency
// it observes (a gradient limit, as in TCP Vegas): while txns take about as
// long as unloaded ones, another txn in flight adds throughput, so the limit
// grows; when latency rises well above its unloaded level, the server is
// saturated and more txns would only split the same writes into smaller
// batches, so the limit shrinks in proportion, down to minInFlight.
type latency struct {
	max       float64
	cur       float64       // current limit, in [1, max]
	smoothed  time.Duration // exponentially weighted mean latency
	floor     time.Duration // least latency of the current window
	prevFloor time.Duration // least latency of the previous window
	n         int           // observations in the current window
}

// latencyWindow is how many txns a window of the unloaded-latency estimate
// spans: the estimate is the least of the last two windows, so it follows a
// server that became slower for good.
const latencyWindow = 500

func newLatency(maxInFlight int) latency {
	return latency{max: float64(maxInFlight), cur: min(float64(maxInFlight), 8)}
}

// limit is the number of txns to keep in flight.
func (l *latency) limit() int { return int(l.cur) }

// observe records one txn's latency and adjusts the limit.
func (l *latency) observe(d time.Duration) {
	if d <= 0 {
		d = time.Nanosecond
	}
	if l.smoothed == 0 {
		l.smoothed, l.floor, l.prevFloor = d, d, d
	}
	l.smoothed += (d - l.smoothed) / 8
	l.floor = min(l.floor, d)
	if l.n++; l.n == latencyWindow {
		l.prevFloor, l.floor, l.n = l.floor, d, 0
	}
	base := min(l.floor, l.prevFloor)
	// A latency up to twice the unloaded one is still fine: an fsync under
	// way when a txn arrives makes it wait for the next.
	gradient := min(1, 2*float64(base)/float64(l.smoothed))
	next := l.cur*gradient + math.Sqrt(l.cur)
	l.cur = max(min(l.max, minInFlight), min(l.max, l.cur+(next-l.cur)/8))
}

// minInFlight is the least the limit falls to (unless capped lower): one
// txn being fsynced, one applied, one proposed, one filling.
const minInFlight = 4
