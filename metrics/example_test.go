package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/metrics"
	"github.com/coordkit/coordkit/node"
)

// counts is a Provider of one's own: it keeps counter totals in a map,
// keyed by name and label values, and ignores gauges and histograms.
type counts struct {
	mu sync.Mutex
	m  map[string]float64
}

func (c *counts) Counter(d metrics.Desc) metrics.Counter   { return counter{c, d.Name} }
func (c *counts) Gauge(metrics.Desc) metrics.Gauge         { return nop{} }
func (c *counts) Histogram(metrics.Desc) metrics.Histogram { return nop{} }

func (c *counts) get(name string, labels ...string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key(name, labels)]
}

type counter struct {
	c    *counts
	name string
}

func (k counter) Add(delta float64, labels ...string) {
	k.c.mu.Lock()
	defer k.c.mu.Unlock()
	k.c.m[key(k.name, labels)] += delta
}

type nop struct{}

func (nop) Set(float64, ...string)     {}
func (nop) Add(float64, ...string)     {}
func (nop) Observe(float64, ...string) {}

func key(name string, labels []string) string {
	return name + "{" + strings.Join(labels, ",") + "}"
}

// Any backend can receive coordkit's measurements by implementing Provider;
// here, counters in a map, from a lock's acquisitions.
func Example_provider() {
	n, err := node.Start(context.Background(), node.Config{
		ClientURLs:    []string{"http://127.0.0.1:0"},
		PeerURLs:      []string{"http://127.0.0.1:0"},
		UnsafeNoFsync: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	ctx := context.Background()

	p := &counts{m: map[string]float64{}}
	mu, _ := lock.NewMutex(n.Client(), "jobs", lock.WithMetrics(p))
	defer mu.Close(ctx)
	held, err := mu.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	other, _ := lock.NewMutex(n.Client(), "jobs", lock.WithMetrics(p))
	defer other.Close(ctx)
	_, err = other.TryLock(ctx) // busy: mu holds it
	fmt.Println(err != nil)
	held.Unlock(ctx)

	fmt.Println("acquired:", p.get("coordkit_lock_acquisitions_total", "acquired"))
	fmt.Println("busy:", p.get("coordkit_lock_acquisitions_total", "busy"))
	// Output:
	// true
	// acquired: 1
	// busy: 1
}
