package coordkit_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Client-side packages, the root package among them, must not pull in
// etcd's server: programs that only connect to a cluster stay small. Only
// node (and coordtest, which wraps it) may.
func TestClientPackagesDoNotImportEtcdServer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	pkgs := []string{".", "./kv", "./lease", "./lock", "./election", "./discovery/...", "./tlsconfig", "./ops", "./metrics", "./metrics/prom"}
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
	pkgs := []string{".", "./kv", "./lease", "./lock", "./election", "./discovery/...", "./ops", "./metrics"}
	args := append([]string{"list", "-e", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NotContains(t, string(out), "github.com/prometheus/", "client-side packages %v depend on Prometheus", pkgs)
	out, err = exec.Command("go", "list", "-deps", "./metrics/prom").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "github.com/prometheus/client_golang/prometheus", "the check must see the adapter's dependency")
}

// A program built on the root package and every client package does not link
// etcd's server: internal/clientonly is such a program, and `go version -m`
// lists the modules its binary was linked from.
func TestClientBinaryDoesNotLinkEtcdServer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a program")
	}
	bin := filepath.Join(t.TempDir(), "clientonly")
	out, err := exec.Command("go", "build", "-o", bin, "./internal/clientonly").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("go", "version", "-m", bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "go.etcd.io/etcd/client/v3", "the check must see the binary's modules")
	var offenders []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "dep" &&
			(strings.HasPrefix(f[1], "go.etcd.io/etcd/server/") || strings.HasPrefix(f[1], "github.com/prometheus/client_golang")) {
			offenders = append(offenders, f[1])
		}
	}
	require.Empty(t, offenders, "a program on the root and client packages links etcd's server or Prometheus")
}
