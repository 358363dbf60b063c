package node

import (
	"context"
	"fmt"

	"github.com/coordkit/coordkit"
)

// Status reports this member's status (coordkit.EndpointStatus of its
// in-process client).
func (n *Node) Status(ctx context.Context) (coordkit.Status, error) {
	if err := n.alive("status"); err != nil {
		return coordkit.Status{}, err
	}
	// The in-process client has one member to ask, whatever the endpoint.
	return coordkit.EndpointStatus(ctx, n.client, n.Endpoints()[0])
}

// Members lists the cluster's members (coordkit.Members of its in-process
// client).
func (n *Node) Members(ctx context.Context) ([]coordkit.Member, error) {
	if err := n.alive("member list"); err != nil {
		return nil, err
	}
	return coordkit.Members(ctx, n.client)
}

// alive returns nil while the node runs, else an error for op wrapping
// ErrStopped and why the node stopped.
func (n *Node) alive(op string) error {
	select {
	case <-n.done:
		cause := n.stopCause()
		if cause == nil {
			cause = ErrStopped
		}
		return fmt.Errorf("node: %s %q: %w", op, n.Name(), cause)
	default:
		return nil
	}
}
