package coordkit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit"
)

func TestMinLeaseTTLAndCheck(t *testing.T) {
	t.Parallel()
	require.Equal(t, 4*time.Second, coordkit.MinLeaseTTL(time.Second))
	require.Equal(t, 4*time.Second, coordkit.MinLeaseTTL(0), "etcd's default election timeout")
	require.Equal(t, 2*time.Second, coordkit.MinLeaseTTL(100*time.Millisecond))
	require.Equal(t, 3*time.Second, coordkit.MinLeaseTTL(500*time.Millisecond))

	err := coordkit.CheckLeaseTTL(2*time.Second, time.Second)
	require.ErrorIs(t, err, coordkit.ErrInvalidTTL)
	require.Contains(t, err.Error(), "TTL 2s < 4s")
	require.NoError(t, coordkit.CheckLeaseTTL(10*time.Second, time.Second))
}
