package coordtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/coordkit/coordkit/coordtest"
)

// A test gets a real etcd member, closed when the test ends.
func ExampleNewNode() {
	// In a test function: func TestX(t *testing.T) { ... }
	test := func(t *testing.T) {
		n := coordtest.NewNode(t)
		if _, err := n.Client().Put(context.Background(), "k", "v"); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println(runAsTest("TestX", test)) // as go test would run it
	// Output: true
}

// A client-side test takes its server from NewServer: an embedded member,
// or a separate etcd process when COORDKIT_ETCD_BINARY names an etcd
// executable, so the same test runs against other server versions.
func ExampleNewServer() {
	test := func(t *testing.T) {
		s := coordtest.NewServer(t)
		if _, err := s.NewClient(t).Put(context.Background(), "k", "v"); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println(runAsTest("TestX", test)) // as go test would run it
	// Output: true
}

// A three-member cluster with a crash of its leader: a new leader takes
// over, and the crashed member catches up after Restart.
func ExampleNewCluster() {
	test := func(t *testing.T) {
		c := coordtest.NewCluster(t, 3)
		ctx := context.Background()
		old := c.Leader()
		c.Member(old).Kill()
		c.Leader() // waits until the survivors agree on a new leader
		if _, err := c.Client().Put(ctx, "k", "written without the old leader"); err != nil {
			t.Fatal(err)
		}
		c.Member(old).Restart()
	}
	fmt.Println(runAsTest("TestFailover", test))
	// Output: true
}
