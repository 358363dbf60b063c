package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/coordtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// `go run ./examples/election -local` works and exits by itself: three
// leaders in turn, then nobody.
func TestLocalDemoRuns(t *testing.T) {
	var out strings.Builder
	if err := runLocal(context.Background(), &out, "demo", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"stopping", "crashing", "nobody leads"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(out.String(), ": elected, term"); n != 3 {
		t.Errorf("%d elections, want 3", n)
	}
}

// lines is an io.Writer that hands each write to a channel.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

func (l lines) waitFor(t *testing.T, sub string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case s := <-l:
			if strings.Contains(s, sub) {
				return
			}
		case <-deadline:
			t.Fatalf("no output containing %q", sub)
		}
	}
}

// The three-terminal mode, with two candidates: the one started first
// leads; stopping it (Ctrl-C) hands leadership to the other.
func TestCandidatesHandOver(t *testing.T) {
	n := coordtest.NewNode(t)
	t.Setenv("ETCDCTL_ENDPOINTS", n.Endpoints()[0])
	run := func(value string) (lines, context.CancelFunc, chan error) {
		out := make(lines, 1000)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runCandidate(ctx, out, "demo", value, 2*time.Second) }()
		return out, cancel, done
	}
	aOut, stopA, aDone := run("alice")
	aOut.waitFor(t, "ELECTED")
	bOut, stopB, bDone := run("bob")
	bOut.waitFor(t, "leader: alice")
	stopA()
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	bOut.waitFor(t, "ELECTED")
	stopB()
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
}
