package safety

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Hold is the time a holder believed it held: from the return of its
// acquisition to the earlier of its release and its loss signal.
type Hold struct {
	Who       string
	Token     int64
	Exclusive bool // a mutex, a writer, a leader: nobody else at the same time
	Start     time.Time
	End       time.Time
}

// Holds records holds; it is safe for concurrent use.
type Holds struct {
	mu    sync.Mutex
	holds []Hold
}

// Add records a hold.
func (hs *Holds) Add(h Hold) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.holds = append(hs.holds, h)
}

// Len is the number of holds recorded.
func (hs *Holds) Len() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return len(hs.holds)
}

// Check returns every violation: more than limit holds live at once, an
// exclusive hold live beside any other, or an exclusive hold whose token is
// not above every earlier hold's.
func (hs *Holds) Check(limit int) []string {
	hs.mu.Lock()
	holds := slices.Clone(hs.holds)
	hs.mu.Unlock()
	slices.SortFunc(holds, func(a, b Hold) int { return a.Start.Compare(b.Start) })
	var out []string
	var live []Hold
	var highest int64
	for _, h := range holds {
		// The holds still live when h starts.
		live = slices.DeleteFunc(live, func(o Hold) bool { return !o.End.After(h.Start) })
		if len(live)+1 > limit {
			out = append(out, fmt.Sprintf("%d holds live at %s, limit %d: %s beside %s", len(live)+1, stamp(h.Start), limit, h, list(live)))
		}
		if len(live) > 0 && h.Exclusive {
			out = append(out, fmt.Sprintf("exclusive %s beside %s", h, list(live)))
		}
		for _, o := range live {
			if o.Exclusive {
				out = append(out, fmt.Sprintf("%s beside exclusive %s", h, o))
			}
		}
		if h.Exclusive && h.Token <= highest {
			out = append(out, fmt.Sprintf("exclusive %s after token %d", h, highest))
		}
		highest = max(highest, h.Token)
		live = append(live, h)
	}
	return out
}

// MaxLive is the largest number of holds live at once.
func (hs *Holds) MaxLive() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, h := range hs.holds {
		edges = append(edges, edge{h.Start, 1}, edge{h.End, -1})
	}
	// Ends before starts at the same instant: [start, end) intervals.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.delta, b.delta)
	})
	n, top := 0, 0
	for _, e := range edges {
		n += e.delta
		top = max(top, n)
	}
	return top
}

func (h Hold) String() string {
	return fmt.Sprintf("%s (token %d, %s to %s)", h.Who, h.Token, stamp(h.Start), stamp(h.End))
}

func list(hs []Hold) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return fmt.Sprint(s)
}

func stamp(t time.Time) string { return t.Format("15:04:05.000000") }
