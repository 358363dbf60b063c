package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// `go run ./examples/discovery` must keep working and telling its story.
func TestDiscoveryRuns(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("%v\noutput so far:\n%s", err, out.String())
	}
	for _, want := range []string{
		"6 calls served by: alpha alpha alpha beta beta beta",
		"beta drains, deregisters and stops",
		"6 calls served by: alpha alpha alpha alpha alpha alpha",
		"alpha: lost: discovery: registration coordkit/services/greeter/alpha: key deleted or replaced: deleted at revision",
		"alpha: registered again",
		"done",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
