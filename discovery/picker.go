package discovery

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// Source is where a Picker finds instances: a Watcher, or Static.
type Source interface {
	// Available returns the instances that may be chosen (none
	// draining). Pickers do not modify the slice.
	Available() []Instance
}

// Static is a fixed Source, for tests and fixed configurations. Draining
// instances in it are skipped.
type Static []Instance

// Available returns the instances that are not draining.
func (s Static) Available() []Instance {
	if !slices.ContainsFunc(s, func(i Instance) bool { return i.Draining }) {
		return s
	}
	return slices.DeleteFunc(slices.Clone(s), func(i Instance) bool { return i.Draining })
}

// Picker chooses an instance for each request. Pickers are safe for
// concurrent use and never choose a draining instance.
type Picker interface {
	// Pick returns an available instance, or an error wrapping
	// ErrNoInstances. Call done when the request to the instance ends:
	// pickers that balance by load count requests in flight between Pick
	// and done; for the others done does nothing.
	Pick() (inst Instance, done func(), err error)
}

func noInstances() error {
	return fmt.Errorf("%w: none registered, or every one is draining (check the service name and namespace)", ErrNoInstances)
}

func nop() {}

// NewRoundRobin returns a Picker that takes the available instances in
// turn, ignoring weights.
func NewRoundRobin(src Source) Picker { return &roundRobin{src: src} }

type roundRobin struct {
	src  Source
	next atomic.Uint64
}

func (p *roundRobin) Pick() (Instance, func(), error) {
	avail := p.src.Available()
	if len(avail) == 0 {
		return Instance{}, nop, noInstances()
	}
	i := p.next.Add(1) - 1
	return avail[i%uint64(len(avail))], nop, nil
}

// NewRandom returns a Picker that chooses at random, in proportion to the
// instances' weights (all equal by default).
func NewRandom(src Source) Picker { return random{src: src} }

type random struct{ src Source }

func (p random) Pick() (Instance, func(), error) {
	avail := p.src.Available()
	if len(avail) == 0 {
		return Instance{}, nop, noInstances()
	}
	return avail[pickWeighted(avail)], nop, nil
}

// pickWeighted returns a random index, in proportion to weights.
func pickWeighted(avail []Instance) int {
	var total int64 // weights are at most maxWeight: no overflow
	for _, in := range avail {
		total += int64(in.weight())
	}
	if total == int64(len(avail)) {
		return rand.IntN(len(avail))
	}
	n := rand.Int64N(total)
	for i, in := range avail {
		if n -= int64(in.weight()); n < 0 {
			return i
		}
	}
	return len(avail) - 1
}

// NewPowerOfTwo returns a Picker that balances load by the power of two
// choices: it draws two instances at random and takes the one with fewer
// requests in flight per unit of weight. Requests count as in flight from
// Pick until done is called.
func NewPowerOfTwo(src Source) Picker {
	return &powerOfTwo{src: src, inflight: map[string]int{}}
}

type powerOfTwo struct {
	src      Source
	mu       sync.Mutex
	inflight map[string]int // by instance ID; absent means 0
}

func (p *powerOfTwo) Pick() (Instance, func(), error) {
	avail := p.src.Available()
	if len(avail) == 0 {
		return Instance{}, nop, noInstances()
	}
	a := avail[rand.IntN(len(avail))]
	p.mu.Lock()
	if len(avail) > 1 {
		i := rand.IntN(len(avail) - 1)
		if avail[i].ID == a.ID {
			i = len(avail) - 1
		}
		// Take b if a's load per weight is higher: a/wa > b/wb, without
		// division.
		if b := avail[i]; p.inflight[a.ID]*b.weight() > p.inflight[b.ID]*a.weight() {
			a = b
		}
	}
	p.inflight[a.ID]++
	p.mu.Unlock()
	var once sync.Once
	return a, func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.inflight[a.ID]--; p.inflight[a.ID] <= 0 {
				delete(p.inflight, a.ID)
			}
		})
	}, nil
}
