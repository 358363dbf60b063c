package ops_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/ops"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A check that ignores its context cannot hold a probe past the timeout.
func TestHandlerAnswersWithinTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := ops.CheckFunc("stuck", func(context.Context) error { <-release; return nil })
	fine := ops.CheckFunc("fine", func(context.Context) error { return nil })
	h := ops.Handler(50*time.Millisecond, fine, stuck)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "[-]stuck failed")
}

func TestRunChecksNamesFailures(t *testing.T) {
	boom := errors.New("boom")
	results, err := ops.RunChecks(context.Background(),
		ops.CheckFunc("a", func(context.Context) error { return nil }),
		ops.CheckFunc("b", func(context.Context) error { return boom }))
	require.ErrorIs(t, err, boom)
	require.ErrorIs(t, err, ops.ErrUnhealthy)
	require.True(t, strings.HasPrefix(err.Error(), `ops: 1 of 2 checks failed: check "b": `), err.Error())
	require.Equal(t, 1, strings.Count(err.Error(), "ops: "), err.Error())
	require.Len(t, results, 2)
	require.NoError(t, results[0].Err)
	require.Equal(t, "b", results[1].Name)

	rec := httptest.NewRecorder()
	ops.Handler(time.Second, ops.CheckFunc("a", func(context.Context) error { return nil })).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/livez?verbose", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "[+]a ok\nok\n", rec.Body.String())
}
