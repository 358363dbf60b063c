package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestNarrowSentinelsMatchTheirBroaderOne(t *testing.T) {
	for _, c := range []struct{ narrow, broad error }{
		{InvalidName, InvalidArgument},
		{InvalidTTL, InvalidArgument},
		{NotHeld, Rejected},
	} {
		err := fmt.Errorf("pkg: op: %w", c.narrow)
		if !errors.Is(err, c.narrow) || !errors.Is(err, c.broad) {
			t.Errorf("%v: want it to match %q and %q", err, c.narrow, c.broad)
		}
		if errors.Is(fmt.Errorf("pkg: op: %w", c.broad), c.narrow) {
			t.Errorf("%q must not match the narrower %q", c.broad, c.narrow)
		}
	}
	if errors.Is(InvalidName, InvalidTTL) || errors.Is(Lost, Released) || errors.Is(UnknownOutcome, Rejected) {
		t.Error("distinct sentinels must not match each other")
	}
}
