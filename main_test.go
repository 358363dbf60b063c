package coordkit_test

import (
	"testing"

	"github.com/coordkit/coordkit/internal/nodetest"
)

func TestMain(m *testing.M) { nodetest.Main(m) }

// The helpers of the node package's tests, for the tests that check
// clients against embedded members (see internal/nodetest).
var (
	fast     = nodetest.Fast
	start    = nodetest.Start
	freeAddr = nodetest.FreeAddr
)
