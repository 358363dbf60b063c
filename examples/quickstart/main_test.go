package main

import "testing"

// The README promises `go run ./examples/quickstart` works on a fresh
// machine; this keeps that promise checked.
func TestQuickstartRuns(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
