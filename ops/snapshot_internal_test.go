package ops

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The trailer is found whatever the write sizes: byte by byte, in random
// chunks, or all at once.
func TestTrailerWriterAnyChunking(t *testing.T) {
	db := make([]byte, 4*snapshotAlign)
	for i := range db {
		db[i] = byte(rand.IntN(256))
	}
	sum := sha256.Sum256(db)
	stream := append(append([]byte(nil), db...), sum[:]...)
	for _, chunk := range []int{1, 3, 31, 32, 33, 500, len(stream)} {
		tw := newTrailerWriter(io.Discard)
		for p := stream; len(p) > 0; {
			n := min(chunk, len(p))
			_, err := tw.Write(p[:n])
			require.NoError(t, err)
			p = p[n:]
		}
		got, err := tw.verify()
		require.NoError(t, err, "chunk %d", chunk)
		require.Equal(t, sum, got)
	}
	bad := append([]byte(nil), stream...)
	bad[10] ^= 1
	tw := newTrailerWriter(io.Discard)
	_, _ = tw.Write(bad)
	_, err := tw.verify()
	require.ErrorIs(t, err, ErrSnapshotCorrupt)
}
