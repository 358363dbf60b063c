// Package starthook lets coordtest learn, through node.Start's context, the
// moment an embedded etcd member has started serving its peers (before it is
// ready). It is internal: users have no reason to need it.
package starthook

import (
	"context"

	"go.etcd.io/etcd/server/v3/embed"
)

type key struct{}

// With returns a context that makes node.Start call f once etcd's server is
// serving peer and client traffic, before it waits for readiness.
func With(ctx context.Context, f func(*embed.Etcd)) context.Context {
	return context.WithValue(ctx, key{}, f)
}

// Call calls the hook in ctx, if any.
func Call(ctx context.Context, e *embed.Etcd) {
	if f, ok := ctx.Value(key{}).(func(*embed.Etcd)); ok {
		f(e)
	}
}
