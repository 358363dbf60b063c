package tlsconfig

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A rotation to a certificate that is not valid yet (the issuer's clock is
// ahead) is refused until its NotBefore, then taken without any change on
// disk.
func TestReloaderRetriesNotYetValidPairAtNotBefore(t *testing.T) {
	ca, err := NewCA(t.TempDir())
	require.NoError(t, err)
	f, err := ca.IssueServer("n1")
	require.NoError(t, err)
	b, err := f.load(checks{now: time.Now()})
	require.NoError(t, err)

	var logs bytes.Buffer
	r := newReloader(f, b, x509.ExtKeyUsageServerAuth, slog.New(slog.NewTextHandler(&logs, nil)))
	clock := time.Now()
	r.now = func() time.Time { return clock }
	original := serial(b.pair)

	got, err := r.get()
	require.NoError(t, err)
	require.Equal(t, original, serial(got))

	nb := clock.Add(time.Hour)
	next, err := ca.IssueWith(IssueSpec{Name: "n1", Hosts: defaultHosts, NotBefore: nb, NotAfter: nb.Add(time.Hour)})
	require.NoError(t, err)
	want := leafSerial(t, next.CertFile)

	for range 3 {
		got, err = r.get()
		require.NoError(t, err)
		require.Equal(t, original, serial(got), "not yet valid: keep serving the old pair")
	}
	require.Equal(t, 1, strings.Count(logs.String(), "rejected"), logs.String())
	require.Contains(t, logs.String(), "not yet valid")

	clock = nb.Add(time.Second)
	got, err = r.get()
	require.NoError(t, err)
	require.Equal(t, want, serial(got), "valid now: taken without a new write")
	require.Contains(t, logs.String(), "certificate reloaded")
}

func leafSerial(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	certs, err := parseCerts(data, path)
	require.NoError(t, err)
	return certs[0].SerialNumber.Text(16)
}
