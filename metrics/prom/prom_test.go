package prom_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/metrics"
	"github.com/coordkit/coordkit/metrics/prom"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Handles asking for the same metric share it, on the registry given and
// no other; a name taken with other labels is reported, not panicked on.
func TestProviderSharesAndReports(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := prom.New(reg)
	d := metrics.Desc{Name: "coordkit_test_things_total", Help: "Things.", Labels: []string{"kind"}}
	p.Counter(d).Add(1, "a")
	p.Counter(d).Add(2, "a")
	prom.New(reg).Counter(d).Add(3, "a") // a second provider on the same registry adopts it
	n, err := testutil.GatherAndCount(reg, d.Name)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	fams, err := reg.Gather()
	require.NoError(t, err)
	require.Equal(t, 6.0, fams[0].GetMetric()[0].GetCounter().GetValue())
	require.NoError(t, p.Err())

	clash := prom.New(reg)
	clash.Gauge(metrics.Desc{Name: d.Name, Help: "Other.", Labels: []string{"other"}}).Set(1, "x")
	require.Error(t, clash.Err())

	h := p.Histogram(metrics.Desc{Name: "coordkit_test_size_ops", Help: "Sizes.", Buckets: metrics.SizeBuckets})
	h.Observe(3)
	n, err = testutil.GatherAndCount(reg, "coordkit_test_size_ops")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}
