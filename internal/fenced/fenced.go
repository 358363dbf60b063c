// Package fenced is the one implementation of writes fenced on a key
// incarnation, behind lock.Held and election.Term: a transaction applied
// only while the key still has the create revision of the hold or term, so
// a holder that lost its key without noticing yet (a GC pause, a slow
// network) cannot write.
//
// Every outcome is typed: a refusal because the hold or term is over wraps
// errs.NotHeld (which matches errs.Rejected) and the owner's Err cause;
// any other failure is classified by etcderr.Outcome into errs.Rejected
// (nothing applied) or errs.UnknownOutcome (may have been applied). No
// write is ever re-sent.
package fenced

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// Owner is one incarnation of a key that fences writes: the key created at
// Rev. Its fields are set once, before use; it is then safe for concurrent
// use.
type Owner struct {
	Cli  *clientv3.Client
	Key  string
	Rev  int64
	Pkg  string // message prefix: "lock" or "election"
	Name string // the lock or election name, for messages

	// Ended returns the owner's Err once the hold or term is known to be
	// over, nil otherwise; a write is then refused without being sent.
	Ended func() error
	// Refused is called when etcd refused a write because the key is gone
	// or replaced. It returns the owner's Err if the end is known by then
	// (nil otherwise). May be nil.
	Refused func() error
}

// IsOwner is a txn condition that holds exactly while the incarnation is
// current: the key exists with create revision Rev.
func (o *Owner) IsOwner() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(o.Key), "=", o.Rev)
}

// Txn starts a fenced transaction; op names it in errors.
func (o *Owner) Txn(ctx context.Context, op string) *Txn {
	return &Txn{o: o, ctx: ctx, op: op}
}

// Do applies ops in one fenced transaction; op names it in errors.
func (o *Owner) Do(ctx context.Context, op string, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	return o.Txn(ctx, op).Then(ops...).Commit()
}

// Txn is a transaction fenced on an Owner. Its If, Then and Else work as in
// clientv3.Txn, within the fence.
type Txn struct {
	o         *Owner
	ctx       context.Context
	op        string
	cmps      []clientv3.Cmp
	then, els []clientv3.Op
}

// If adds conditions; Then runs when all of them hold, Else otherwise.
func (t *Txn) If(cs ...clientv3.Cmp) *Txn { t.cmps = append(t.cmps, cs...); return t }

// Then adds operations applied when the If conditions hold.
func (t *Txn) Then(ops ...clientv3.Op) *Txn { t.then = append(t.then, ops...); return t }

// Else adds operations applied when an If condition fails.
func (t *Txn) Else(ops ...clientv3.Op) *Txn { t.els = append(t.els, ops...); return t }

// Commit sends the transaction, once, and returns the response of its
// If/Then/Else part as clientv3 would. If the hold or term is over, nothing
// is applied and the error wraps errs.NotHeld and the owner's Err. Other
// failures wrap errs.Rejected (not applied: ctx ended or client closed
// before sending, or etcd refused it) or errs.UnknownOutcome.
func (t *Txn) Commit() (*clientv3.TxnResponse, error) {
	o := t.o
	if err := o.Ended(); err != nil {
		return nil, o.notHeld(t.op, err, "")
	}
	if err := etcderr.Unsent(t.ctx, o.Cli); err != nil {
		return nil, o.errorf(t.op, "%w", err)
	}
	resp, held, err := Send(clientv3.WithRequireLeader(t.ctx), o.Cli, o.IsOwner(), t.cmps, t.then, t.els)
	if err != nil {
		return nil, o.errorf(t.op, "%w", etcderr.Outcome(err))
	}
	if !held {
		var cause error
		if o.Refused != nil {
			cause = o.Refused()
		}
		return nil, o.notHeld(t.op, cause, fmt.Sprintf("key %s (token %d) is gone or replaced", o.Key, o.Rev))
	}
	return resp, nil
}

// Send sends, once, a transaction that applies then (if every cmp holds) or
// els (otherwise) only while fence holds; held is false when fence failed,
// and then nothing was applied. resp is the response of the cmps/then/els
// part, as clientv3 would return it for that transaction alone; err is
// etcd's, unclassified.
func Send(ctx context.Context, cli *clientv3.Client, fence clientv3.Cmp, cmps []clientv3.Cmp, then, els []clientv3.Op) (resp *clientv3.TxnResponse, held bool, err error) {
	nested := len(cmps) > 0 || len(els) > 0
	txn := cli.Txn(ctx).If(fence)
	if nested {
		txn = txn.Then(clientv3.OpTxn(cmps, then, els))
	} else {
		txn = txn.Then(then...)
	}
	resp, err = txn.Commit()
	if err != nil || !resp.Succeeded {
		return nil, false, err
	}
	if !nested {
		return resp, true, nil
	}
	inner := (*clientv3.TxnResponse)(resp.Responses[0].GetResponseTxn())
	inner.Header = resp.Header
	return inner, true, nil
}

func (o *Owner) errorf(op, format string, args ...any) error {
	return fmt.Errorf("%s: %s %q: "+format, append([]any{o.Pkg, op, o.Name}, args...)...)
}

// notHeld is the refusal of a write because the hold or term is over: it
// wraps errs.NotHeld and cause (the owner's Err; nil if not known yet),
// whose text is given without its own package and subject prefix so that
// the message names them once.
func (o *Owner) notHeld(op string, cause error, detail string) error {
	msg := fmt.Sprintf("%s: %s %q: %v", o.Pkg, op, o.Name, errs.NotHeld)
	if detail != "" {
		msg += ": " + detail
	}
	if cause == nil {
		return &refusal{msg: msg, errs: []error{errs.NotHeld}}
	}
	return &refusal{msg: msg + ": " + o.trim(cause.Error()), errs: []error{errs.NotHeld, cause}}
}

// trim removes the `<pkg>: <op> "<name>": ` prefix from msg.
func (o *Owner) trim(msg string) string {
	rest, ok := strings.CutPrefix(msg, o.Pkg+": ")
	if !ok {
		return msg
	}
	if _, after, ok := strings.Cut(rest, strconv.Quote(o.Name)+": "); ok {
		return after
	}
	return msg
}

// refusal is an error wrapping several others under one message.
type refusal struct {
	msg  string
	errs []error
}

func (r *refusal) Error() string   { return r.msg }
func (r *refusal) Unwrap() []error { return r.errs }
