package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

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
