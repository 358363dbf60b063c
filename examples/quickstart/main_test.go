package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The README promises `go run ./examples/quickstart` works on a fresh
// machine; this keeps that promise checked.
func TestQuickstartRuns(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
