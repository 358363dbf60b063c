package access_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/node"
)

// Apply a spec to a running cluster (here an embedded node, with auth still
// off), then again as root: the second time nothing changes.
func ExampleApply() {
	ctx := context.Background()
	node, err := node.Start(ctx, node.Config{
		ClientURLs: []string{"http://127.0.0.1:0"}, PeerURLs: []string{"http://127.0.0.1:0"},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()

	spec := access.Spec{
		RootPassword: "change-me",
		Roles: []access.Role{{Name: "jobs", Permissions: slices.Concat(
			access.KV("jobs/config", access.Read), access.Lock("jobs/nightly"))}},
		Users: []access.User{{Name: "worker", Password: "worker-pw", Roles: []string{"jobs"}}},
	}
	report, err := access.Apply(ctx, node.Client(), spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(report)

	root, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: node.Endpoints(), Username: "root", Password: "change-me"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer root.Close()
	report, err = access.Apply(ctx, root, spec)
	fmt.Println(report, err)
	// Output:
	// role "jobs": created
	// role "jobs": granted read prefix "jobs/config/"
	// role "jobs": granted readwrite prefix "jobs/nightly/"
	// user "root": created
	// user "root": granted role "root"
	// user "worker": created
	// user "worker": granted role "jobs"
	// auth: enabled
	// no changes <nil>
}
