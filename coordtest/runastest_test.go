package coordtest_test

import (
	"os"
	"testing"
)

// runAsTest runs f as a test named name and reports whether it passed. The
// examples use it to show coordtest inside a test function. Under go test -v
// the nested run would print its own "=== RUN" lines into the example's
// output, so its standard output is discarded while it runs.
func runAsTest(name string, f func(*testing.T)) bool {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	defer devNull.Close()
	stdout := os.Stdout
	os.Stdout = devNull
	defer func() { os.Stdout = stdout }()
	return testing.RunTests(func(string, string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: name, F: f}})
}
