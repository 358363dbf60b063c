package soak

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Kind is a kind of fault.
type Kind int

// The faults Schedule draws from.
const (
	// Kill kills a member (a crash) and restarts it when the fault ends.
	Kill Kind = iota
	// KillLeader kills whichever member leads raft when the fault starts.
	KillLeader
	// Partition cuts a member's raft traffic from the others.
	Partition
	// Blackhole stops all traffic on a member's client link.
	Blackhole
	// Drop closes the open connections of a member's client link, at the
	// start and again at the end of the fault.
	Drop
	// Delay adds latency to a member's client link.
	Delay
)

// AllKinds is every kind of fault.
var AllKinds = []Kind{Kill, KillLeader, Partition, Blackhole, Drop, Delay}

func (k Kind) String() string {
	switch k {
	case Kill:
		return "kill"
	case KillLeader:
		return "kill-leader"
	case Partition:
		return "partition"
	case Blackhole:
		return "blackhole"
	case Drop:
		return "drop"
	case Delay:
		return "delay"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Fault is one step of a schedule: at offset At from the start, fault
// Member (ignored for KillLeader) for the duration For.
type Fault struct {
	At, For time.Duration
	Kind    Kind
	Member  int
}

func (f Fault) String() string {
	if f.Kind == KillLeader {
		return fmt.Sprintf("+%v %v for %v", f.At, f.Kind, f.For)
	}
	return fmt.Sprintf("+%v %v member %d for %v", f.At, f.Kind, f.Member, f.For)
}

// Timing bounds the faults of a schedule.
type Timing struct {
	// Gap is the quiet time between two faults, drawn from [Gap, 2×Gap).
	Gap time.Duration
	// Min and Max bound a fault's length, drawn from [Min, Max).
	Min, Max time.Duration
}

// DefaultTiming gives faults of 0.3 to 1.5 s, 0.2 to 0.4 s apart.
var DefaultTiming = Timing{Gap: 200 * time.Millisecond, Min: 300 * time.Millisecond, Max: 1500 * time.Millisecond}

// Schedule draws the run's fault schedule for a cluster of the given size:
// faults one at a time (so a majority of members always stays up and
// connected), of the given kinds (AllKinds if none), filling the run's
// Duration. It depends on nothing but the seed, the duration, the size,
// the timing and the kinds.
func (r *Run) Schedule(members int, tm Timing, kinds ...Kind) []Fault {
	if len(kinds) == 0 {
		kinds = AllKinds
	}
	// A generator of its own, so that what the test drew from Rand before
	// does not change the schedule.
	g := rand.New(rand.NewPCG(uint64(r.Seed), 0xfa17))
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(g.Int64N(int64(hi-lo)))
	}
	var out []Fault
	at := between(tm.Gap, 2*tm.Gap)
	for {
		f := Fault{At: at, For: between(tm.Min, tm.Max), Kind: kinds[g.IntN(len(kinds))], Member: g.IntN(members)}
		if f.At+f.For > r.Duration {
			return out
		}
		out = append(out, f)
		at = f.At + f.For + between(tm.Gap, 2*tm.Gap)
	}
}
