package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/tlsconfig"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The etcd command of our notes' docker setup, one dash per flag.
func TestNotesDockerCommandLine(t *testing.T) {
	host := "10.249.64.103"
	args := strings.Fields(`-name etcd0
 -advertise-client-urls http://` + host + `:2379,http://` + host + `:4001
 -listen-client-urls http://0.0.0.0:2379,http://0.0.0.0:4001
 -initial-advertise-peer-urls http://` + host + `:2380
 -listen-peer-urls http://0.0.0.0:2380
 -initial-cluster-token etcd-cluster-1
 -initial-cluster etcd0=http://` + host + `:2380
 -initial-cluster-state new`)
	o, err := parseOptions(args, env(nil), io.Discard)
	require.NoError(t, err)
	c := o.cfg
	require.Equal(t, "etcd0", c.Name)
	require.Equal(t, "etcd0.etcd", c.Dir)
	require.Equal(t, []string{"http://" + host + ":2379", "http://" + host + ":4001"}, c.AdvertiseClientURLs)
	require.Equal(t, []string{"http://0.0.0.0:2379", "http://0.0.0.0:4001"}, c.ClientURLs)
	require.Equal(t, []string{"http://" + host + ":2380"}, c.AdvertisePeerURLs)
	require.Equal(t, []string{"http://0.0.0.0:2380"}, c.PeerURLs)
	require.Equal(t, "etcd-cluster-1", c.ClusterToken)
	require.Equal(t, map[string]string{"etcd0": "http://" + host + ":2380"}, c.InitialCluster)
	require.False(t, c.JoinExisting)
	require.Nil(t, c.Join)
	require.Equal(t, time.Second, c.ElectionTimeout)
}

func TestDefaultsAreEtcds(t *testing.T) {
	o, err := parseOptions(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "default", o.cfg.Name)
	require.Equal(t, "default.etcd", o.cfg.Dir)
	require.Empty(t, o.cfg.ClientURLs, "coordkit's defaults: 127.0.0.1:2379 and :2380")
	require.Empty(t, o.cfg.PeerURLs)
	require.Equal(t, "etcd-cluster", o.cfg.ClusterToken)
}

func TestEnvironmentFillsWhatFlagsDoNotSay(t *testing.T) {
	o, err := parseOptions([]string{"--name", "from-flag", "--initial-cluster-state=existing", "--initial-cluster=from-flag=http://127.0.0.1:2380"}, env(map[string]string{
		"ETCD_NAME":               "from-env",
		"ETCD_DATA_DIR":           "/var/lib/etcd",
		"ETCD_LISTEN_CLIENT_URLS": "http://127.0.0.1:12379, http://127.0.0.1:22379",
		"ETCD_ELECTION_TIMEOUT":   "2500",
		"ETCD_HEARTBEAT_INTERVAL": "250",
		"ETCD_TRUSTED_CA_FILE":    "/ca.pem",
		"ETCD_CERT_FILE":          "/c.pem",
		"ETCD_KEY_FILE":           "/k.pem",
		"ETCD_PEER_CERT_FILE":     "/pc.pem",
		"ETCD_PEER_KEY_FILE":      "/pk.pem",
	}), io.Discard)
	require.NoError(t, err)
	c := o.cfg
	require.Equal(t, "from-flag", c.Name, "the command line wins")
	require.Equal(t, "/var/lib/etcd", c.Dir)
	require.Equal(t, []string{"http://127.0.0.1:12379", "http://127.0.0.1:22379"}, c.ClientURLs)
	require.True(t, c.JoinExisting)
	require.Equal(t, 2500*time.Millisecond, c.ElectionTimeout)
	require.Equal(t, 250*time.Millisecond, c.TickInterval)
	require.Equal(t, &tlsconfig.Files{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem"}, c.ClientTLS)
	require.Equal(t, &tlsconfig.Files{CertFile: "/pc.pem", KeyFile: "/pk.pem"}, c.PeerTLS)
}

func TestJoinFlag(t *testing.T) {
	o, err := parseOptions([]string{"--name=n3", "--join", "http://10.0.0.1:2379,http://10.0.0.2:2379"}, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"http://10.0.0.1:2379", "http://10.0.0.2:2379"}, o.cfg.Join.Endpoints)
	o, err = parseOptions(nil, env(map[string]string{"ETCD_JOIN": "127.0.0.1:2379"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:2379"}, o.cfg.Join.Endpoints)
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown flag":       {"--listen-client-url", "http://x:1"},
		"bad state":          {"--initial-cluster-state", "old"},
		"bad cluster entry":  {"--initial-cluster", "etcd0"},
		"duplicate member":   {"--initial-cluster", "a=http://h:1,a=http://h:2"},
		"join with cluster":  {"--join", "h:2379", "--initial-cluster", "a=http://h:1"},
		"join with existing": {"--join", "h:2379", "--initial-cluster-state", "existing"},
		"cert without key":   {"--cert-file", "c.pem"},
		"cert auth, no CA":   {"--client-cert-auth", "--cert-file", "c", "--key-file", "k"},
		"peer auth, no TLS":  {"--peer-client-cert-auth"},
		"bad number":         {"--election-timeout", "1s"},
		"stray argument":     {"--name", "a", "extra"},
		"bad log level":      {"--log-level", "loud"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseOptions(args, env(nil), io.Discard)
			require.ErrorIs(t, err, errUsage)
		})
	}
	_, err := parseOptions(nil, env(map[string]string{"ETCD_ELECTION_TIMEOUT": "soon"}), io.Discard)
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, err.Error(), "ETCD_ELECTION_TIMEOUT")
}
