package safety_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/internal/safety"
)

func TestFencedStoreRefusesSupersededTokens(t *testing.T) {
	for _, fenced := range []bool{true, false} {
		s := safety.NewStore(fenced)
		old, err := s.Read(1)
		require.NoError(t, err)
		v, err := s.Read(2)
		require.NoError(t, err)
		require.NoError(t, s.Increment("new", 2, v))
		err = s.Increment("old", 1, old)
		if fenced {
			require.ErrorIs(t, err, safety.ErrStaleToken)
			require.Equal(t, 1, s.Refused())
			require.Empty(t, s.Check())
			continue
		}
		require.NoError(t, err)
		require.Len(t, s.Check(), 2, "a superseded token and a lost update: %v", s.Check())
	}
}

func TestHoldsCheck(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	var hs safety.Holds
	hs.Add(safety.Hold{Who: "a", Token: 1, Start: at(0), End: at(10)})
	hs.Add(safety.Hold{Who: "b", Token: 2, Start: at(5), End: at(20)})
	hs.Add(safety.Hold{Who: "c", Token: 3, Start: at(10), End: at(30)}) // a ended at 10: not beside a
	require.Empty(t, hs.Check(2))
	require.Equal(t, 2, hs.MaxLive())
	require.Len(t, hs.Check(1), 2, "b beside a, c beside b")

	var ex safety.Holds
	ex.Add(safety.Hold{Who: "r", Token: 1, Start: at(0), End: at(10)})
	ex.Add(safety.Hold{Who: "w", Token: 2, Exclusive: true, Start: at(9), End: at(20)})
	ex.Add(safety.Hold{Who: "w2", Token: 2, Exclusive: true, Start: at(20), End: at(30)})
	v := ex.Check(10)
	require.Len(t, v, 2, "%v", v)
	require.Contains(t, v[0], "exclusive w")
	require.Contains(t, v[1], "after token 2")
}
