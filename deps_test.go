package coordkit_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Client-side packages must not pull in etcd's server: programs that only
// connect to a cluster stay small.
func TestClientPackagesDoNotImportEtcdServer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	pkgs := []string{"./kv", "./lease", "./lock", "./election", "./discovery/...", "./tlsconfig", "./ops", "./metrics", "./metrics/prom"}
	args := append([]string{"list", "-e", "-deps", "-f", "{{.ImportPath}} {{if .Error}}ERROR{{end}}"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var offenders []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "go.etcd.io/etcd/server/") {
			offenders = append(offenders, line)
		}
	}
	require.Empty(t, offenders, "client-side packages %v depend on etcd's server", pkgs)
	require.Contains(t, string(out), "go.etcd.io/etcd/client/v3", "the check must actually see the packages' dependencies")
}

// Metrics cost programs nothing they did not ask for: only the prom adapter
// pulls in Prometheus' client library.
func TestOnlyPromAdapterImportsPrometheus(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	pkgs := []string{"./kv", "./lease", "./lock", "./election", "./discovery/...", "./ops", "./metrics"}
	args := append([]string{"list", "-e", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NotContains(t, string(out), "github.com/prometheus/", "client-side packages %v depend on Prometheus", pkgs)
	out, err = exec.Command("go", "list", "-deps", "./metrics/prom").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "github.com/prometheus/client_golang/prometheus", "the check must see the adapter's dependency")
}
