package coordkit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coordkit/coordkit/tlsconfig"
)

// ClientConfigFromEnv builds a ClientConfig from etcdctl's environment
// variables, with etcdctl's meaning, so scripts written for etcdctl work
// unchanged for coordkit programs:
//
//	ETCDCTL_ENDPOINTS                 comma-separated endpoints (default 127.0.0.1:2379)
//	ETCDCTL_DIAL_TIMEOUT              dial timeout, a Go duration like 3s (default 2s)
//	ETCDCTL_CACERT                    CA bundle to verify servers
//	ETCDCTL_CERT, ETCDCTL_KEY         client certificate and key (mutual TLS)
//	ETCDCTL_INSECURE_SKIP_TLS_VERIFY  "true" to skip server certificate checks
//	ETCDCTL_USER                      user name, or name:password
//	ETCDCTL_PASSWORD                  password (then ETCDCTL_USER is only the name)
//
// Any of the TLS variables turns TLS on. Errors wrap ErrInvalidArgument.
func ClientConfigFromEnv() (ClientConfig, error) {
	return clientConfigFrom(os.Getenv)
}

func clientConfigFrom(getenv func(string) string) (ClientConfig, error) {
	var cfg ClientConfig
	eps := getenv("ETCDCTL_ENDPOINTS")
	if eps == "" {
		eps = "127.0.0.1:2379"
	}
	for _, ep := range strings.Split(eps, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			cfg.Endpoints = append(cfg.Endpoints, ep)
		}
	}
	cfg.DialTimeout = 2 * time.Second
	if s := getenv("ETCDCTL_DIAL_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return ClientConfig{}, fmt.Errorf("%w: ETCDCTL_DIAL_TIMEOUT=%q: want a positive duration like 3s", ErrInvalidArgument, s)
		}
		cfg.DialTimeout = d
	}

	files := tlsconfig.Files{CAFile: getenv("ETCDCTL_CACERT"), CertFile: getenv("ETCDCTL_CERT"), KeyFile: getenv("ETCDCTL_KEY")}
	skip := false
	if s := getenv("ETCDCTL_INSECURE_SKIP_TLS_VERIFY"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return ClientConfig{}, fmt.Errorf("%w: ETCDCTL_INSECURE_SKIP_TLS_VERIFY=%q: want true or false", ErrInvalidArgument, s)
		}
		skip = b
	}
	if (files.CertFile == "") != (files.KeyFile == "") {
		return ClientConfig{}, fmt.Errorf("%w: ETCDCTL_CERT and ETCDCTL_KEY go together; set both or neither", ErrInvalidArgument)
	}
	if files != (tlsconfig.Files{}) || skip {
		tc, err := tlsconfig.Client(files)
		if err != nil {
			return ClientConfig{}, fmt.Errorf("%w: TLS from ETCDCTL_CACERT/ETCDCTL_CERT/ETCDCTL_KEY: %w", ErrInvalidArgument, err)
		}
		tc.InsecureSkipVerify = skip
		cfg.TLS = tc
	}

	user, pass := getenv("ETCDCTL_USER"), getenv("ETCDCTL_PASSWORD")
	switch {
	case user == "" && pass != "":
		return ClientConfig{}, fmt.Errorf("%w: ETCDCTL_PASSWORD is set without ETCDCTL_USER", ErrInvalidArgument)
	case user != "" && pass != "":
		cfg.Username, cfg.Password = user, pass
	case user != "":
		name, pw, ok := strings.Cut(user, ":")
		if !ok {
			return ClientConfig{}, fmt.Errorf("%w: ETCDCTL_USER=%q has no password: use name:password or set ETCDCTL_PASSWORD (coordkit cannot prompt)", ErrInvalidArgument, user)
		}
		cfg.Username, cfg.Password = name, pw
	}
	return cfg, nil
}
