package ops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
)

// Check is one named health check, like a Kubernetes healthz checker: nil
// from Check means healthy. Recipes provide the functions to wrap with
// CheckFunc: discovery's Registration.Check and Watcher.Check, election's
// Health.Check.
type Check interface {
	Name() string
	Check(ctx context.Context) error
}

// CheckFunc makes a Check of a function.
func CheckFunc(name string, f func(context.Context) error) Check { return funcCheck{name, f} }

type funcCheck struct {
	name string
	f    func(context.Context) error
}

func (c funcCheck) Name() string                    { return c.name }
func (c funcCheck) Check(ctx context.Context) error { return c.f(ctx) }

// ClusterCheck returns a check named "etcd" that the cluster cli reaches
// can serve, as `etcdctl endpoint health` checks it: a linearizable read
// succeeds (so there is a leader and a quorum; a permission error counts as
// an answer) and no alarm is raised. Failures wrap ErrNoLeader, or ErrAlarm
// (and ErrNoSpace for a full database).
func ClusterCheck(cli *clientv3.Client) Check { return clusterCheck{cli} }

type clusterCheck struct{ cli *clientv3.Client }

func (c clusterCheck) Name() string                    { return "etcd" }
func (c clusterCheck) Check(ctx context.Context) error { return ClusterHealth(ctx, c.cli) }

// unprefixed is Check without the package prefix, for RunChecks (which
// adds it once, with the check's name).
func (c clusterCheck) unprefixed(ctx context.Context) error { return clusterHealth(ctx, c.cli) }

// ClusterHealth is what ClusterCheck checks, as a function.
func ClusterHealth(ctx context.Context, cli *clientv3.Client) error {
	if err := clusterHealth(ctx, cli); err != nil {
		return fmt.Errorf("ops: cluster health: %w", err)
	}
	return nil
}

// clusterHealth is ClusterHealth without the package prefix.
func clusterHealth(ctx context.Context, cli *clientv3.Client) error {
	if cli == nil {
		return errs.NilClient
	}
	_, err := cli.Get(ctx, "health")
	if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		if errors.Is(err, rpctypes.ErrNoLeader) || ctx.Err() != nil {
			return fmt.Errorf("%w: a linearizable read failed: %w", ErrNoLeader, err)
		}
		return fmt.Errorf("%w: a linearizable read failed: %w", ErrUnhealthy, err)
	}
	resp, err := cli.AlarmList(ctx)
	if err != nil {
		return fmt.Errorf("%w: list alarms: %w", ErrUnhealthy, err)
	}
	return alarmErr(resp.Alarms)
}

// alarmErr describes raised alarms, or returns nil.
func alarmErr(alarms []*pb.AlarmMember) error {
	var names []string
	noSpace := false
	for _, a := range alarms {
		if a.Alarm == pb.AlarmType_NONE {
			continue
		}
		names = append(names, fmt.Sprintf("%s on member %x", a.Alarm, a.MemberID))
		noSpace = noSpace || a.Alarm == pb.AlarmType_NOSPACE
	}
	switch {
	case len(names) == 0:
		return nil
	case noSpace:
		return fmt.Errorf("%w: %s: %w", ErrAlarm, strings.Join(names, ", "), ErrNoSpace)
	}
	return fmt.Errorf("%w: %s", ErrAlarm, strings.Join(names, ", "))
}

// Result is the outcome of one check.
type Result struct {
	Name string
	Err  error
}

// RunChecks runs checks concurrently and returns each one's result, in
// order, and an error joining the failures (each wrapping ErrUnhealthy and
// naming its check), nil when all pass.
func RunChecks(ctx context.Context, checks ...Check) ([]Result, error) {
	results := make([]Result, len(checks))
	failed := make([]error, len(checks)) // without the package prefix
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			check := c.Check
			if u, ok := c.(interface{ unprefixed(context.Context) error }); ok {
				check = u.unprefixed
			}
			if err := check(ctx); err != nil {
				if !errors.Is(err, ErrUnhealthy) {
					err = fmt.Errorf("%w: %w", ErrUnhealthy, err)
				}
				failed[i] = fmt.Errorf("check %q: %w", c.Name(), err)
				results[i] = Result{Name: c.Name(), Err: fmt.Errorf("ops: %w", failed[i])}
				return
			}
			results[i] = Result{Name: c.Name()}
		})
	}
	wg.Wait()
	return results, joinFailed(len(checks), failed)
}

// joinFailed is RunChecks' error: nil when no check failed.
func joinFailed(n int, failed []error) error {
	bad := 0
	for _, err := range failed {
		if err != nil {
			bad++
		}
	}
	if bad == 0 {
		return nil
	}
	return fmt.Errorf("ops: %d of %d checks failed: %w", bad, n, errors.Join(failed...))
}

// Handler serves a health endpoint for a load balancer or a Kubernetes
// probe: it runs checks (concurrently, within timeout, counted from the
// request) and answers 200 "ok" when all pass, 503 otherwise with one line
// per check, "[+]name ok" or "[-]name failed: reason", the format of
// Kubernetes' /healthz?verbose. Add ?verbose to list the checks on success
// too. A check still running at the timeout fails with the context's error.
func Handler(timeout time.Duration, checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		results, err := runBounded(ctx, checks)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if err == nil && !r.URL.Query().Has("verbose") {
			fmt.Fprintln(w, "ok")
			return
		}
		var b strings.Builder
		for _, res := range results {
			if res.Err != nil {
				fmt.Fprintf(&b, "[-]%s failed: %v\n", res.Name, res.Err)
			} else {
				fmt.Fprintf(&b, "[+]%s ok\n", res.Name)
			}
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			b.WriteString("unhealthy\n")
		} else {
			b.WriteString("ok\n")
		}
		fmt.Fprint(w, b.String())
	})
}

// runBounded is RunChecks that returns at ctx's end even if a check
// ignores its context: checks still running are reported as failed.
func runBounded(ctx context.Context, checks []Check) ([]Result, error) {
	type outcome struct {
		results []Result
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := RunChecks(ctx, checks...)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.results, o.err
	case <-ctx.Done():
		results := make([]Result, len(checks))
		failed := make([]error, len(checks))
		for i, c := range checks {
			failed[i] = fmt.Errorf("check %q: %w: no answer in time: %w", c.Name(), ErrUnhealthy, ctx.Err())
			results[i] = Result{Name: c.Name(), Err: fmt.Errorf("ops: %w", failed[i])}
		}
		return results, joinFailed(len(checks), failed)
	}
}
