package node

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
)

// StartCluster starts a new cluster of n members in this process and
// returns them once every one is ready. cfg is the template of every
// member: member i is named cfg.Name (default "m") followed by i, keeps its
// data in cfg.Dir/<name> (ephemeral when cfg.Dir is empty), and listens on
// cfg's URLs, whose port must be 0 (the default here: 127.0.0.1:0) so that
// every member gets free ports. cfg.InitialCluster, JoinExisting, Join and
// the advertised URLs must be unset: StartCluster fills them in.
//
// The members bootstrap together, as etcd's static configuration does. To
// grow the cluster later, start more members with Config.Join; to shrink
// it, coordkit.RemoveMember and Close.
//
// On error, every member it started is closed again. Errors wrap
// ErrInvalidArgument, the errors of Start, or ctx's error.
func StartCluster(ctx context.Context, n int, cfg Config) ([]*Node, error) {
	if n < 1 {
		return nil, fmt.Errorf("node: start cluster: %w: %d members; want at least 1", ErrInvalidArgument, n)
	}
	if len(cfg.InitialCluster) > 0 || cfg.JoinExisting || cfg.Join != nil || len(cfg.AdvertiseClientURLs) > 0 || len(cfg.AdvertisePeerURLs) > 0 {
		return nil, fmt.Errorf("node: start cluster: %w: StartCluster sets InitialCluster, JoinExisting, Join and the advertised URLs itself; leave them unset", ErrInvalidArgument)
	}
	scheme := func(tls bool) string {
		if tls {
			return "https://127.0.0.1:0"
		}
		return "http://127.0.0.1:0"
	}
	if len(cfg.ClientURLs) == 0 {
		cfg.ClientURLs = []string{scheme(cfg.ClientTLS != nil)}
	}
	if len(cfg.PeerURLs) == 0 {
		cfg.PeerURLs = []string{scheme(cfg.PeerTLS != nil)}
	}
	for _, f := range []struct {
		field string
		urls  []string
		tls   bool
	}{{"ClientURLs", cfg.ClientURLs, cfg.ClientTLS != nil}, {"PeerURLs", cfg.PeerURLs, cfg.PeerTLS != nil}} {
		parsed, err := parseURLs(f.field, f.urls, f.tls)
		if err != nil {
			return nil, fmt.Errorf("node: start cluster: %w", err)
		}
		if !hasOnlyZeroPorts(parsed) {
			return nil, fmt.Errorf("node: start cluster: %w: %s %v: every port must be 0, so that each member gets its own", ErrInvalidArgument, f.field, f.urls)
		}
	}
	base := cfg.Name
	if base == "" {
		base = "m"
	}
	// Another process can take a port reserved for a peer before its member
	// binds it; that start fails with ErrPortInUse and is retried whole.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var nodes []*Node
		nodes, err = startCluster(ctx, n, cfg, base)
		if err == nil || !errors.Is(err, ErrPortInUse) {
			return nodes, err
		}
	}
	return nil, err
}

func startCluster(ctx context.Context, n int, tmpl Config, base string) ([]*Node, error) {
	cfgs := make([]Config, n)
	initial := make(map[string]string, n)
	for i := range cfgs {
		cfg := tmpl
		cfg.Name = fmt.Sprintf("%s%d", base, i)
		if tmpl.Dir != "" {
			cfg.Dir = filepath.Join(tmpl.Dir, cfg.Name)
		}
		peers, err := parseURLs("PeerURLs", tmpl.PeerURLs, tmpl.PeerTLS != nil)
		if err != nil {
			return nil, err
		}
		// Members of a new cluster must know each other's peer URLs up
		// front: pick their peer ports now.
		if err := reservePorts(peers, &startPlan{reserved: map[string]bool{}}); err != nil {
			return nil, err
		}
		cfg.PeerURLs = urlStrings(peers)
		initial[cfg.Name] = urlStrings(advertiseFor(peers))[0]
		cfgs[i] = cfg
	}
	nodes := make([]*Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].InitialCluster = initial
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = Start(ctx, cfgs[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, nd := range nodes {
			if nd != nil {
				nd.Kill()
			}
		}
		return nil, err
	}
	return nodes, nil
}

func urlStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	return out
}

func hasOnlyZeroPorts(us []url.URL) bool {
	for _, u := range us {
		if u.Port() != "0" {
			return false
		}
	}
	return true
}
