// Package kv is a typed view of one etcd key prefix: the etcdctl verbs (put,
// get, del, watch, txn) as Go calls that are typed, validated and correct
// under failure.
//
//	users, err := kv.New[User](cli, "users")       // keys under "users/", JSON values
//	rev, err := users.Put(ctx, "ada", User{Name: "Ada"}, kv.WithLease(id))
//	e, err := users.Get(ctx, "ada")                 // e.Value, e.ModRevision, e.Lease...
//	_, err = users.CompareAndSwap(ctx, "ada", e.ModRevision, updated)
//	all, rev, err := users.List(ctx)                // one consistent snapshot, paged
//	w, err := users.Watch(ctx, kv.FromRevision(rev+1))
//
// Guarantees (each stated here once; the calls it concerns point here):
//
//   - Keys are relative to the store's prefix (see New: a store of "svc"
//     never sees "svc2/x"). Keys and values are checked before anything is
//     sent: an empty key (ErrInvalidName), a request over etcd's 1.5 MiB
//     limit (ErrTooLarge), a value the codec cannot encode or decode
//     (ErrCodec, naming the key). Bad input never panics, not even a
//     panicking codec.
//   - Errors are typed (see the Err variables) and wrap etcd's own. A write
//     is never re-sent after an ambiguous failure: a timeout, a lost
//     connection or a member stopping after it was sent gives
//     ErrUnknownOutcome, and the caller reads the key to learn whether it
//     applied. Only definite rejections (the compare of a txn failing, etcd
//     refusing before applying) are retried, by Update and the Batcher. A
//     write whose context ended before it went out, on a closed client, or
//     on the in-process client of a stopped member, is not sent at all:
//     ErrRejected.
//   - List is one consistent snapshot of a prefix of any size (see
//     Store.List).
//   - A Watcher never ends silently while its context lives, and loses and
//     repeats nothing (see Store.Watch).
//   - Writes can be fenced by a lock hold or a leadership term:
//     store.Fenced(held) (or a term) returns a view whose every write,
//     its Batcher's included, etcd applies only while the hold or term
//     lasts, checked in the same transaction. A refused write wraps
//     ErrNotHeld (a rejection: nothing was applied) and the fence's Err.
//     lock.Held and election.Term implement Fence; kv depends on neither.
//   - The Batcher merges concurrent writes into shared txns, each caller
//     getting its own result, writes of one key in order (see Batcher).
//
// Background work (watch retries and resyncs, Batcher txns that failed) is
// logged to slog.Default() unless WithLogger says otherwise.
//
// A Store has no goroutines and needs no Close; a Watcher lives until its
// context ends (or Close); a Batcher has goroutines only while writes are
// pending, and Close(ctx) flushes them. Client-side only: kv works with any
// *clientv3.Client, remote or in-process (node.Node.Client).
package kv
