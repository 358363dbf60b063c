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
// Guarantees:
//
//   - Keys are relative to the store's prefix, normalised to end in "/": a
//     store of "svc" never sees "svc2/x". Keys and values are checked before
//     anything is sent: an empty key (ErrInvalidName), a request over etcd's
//     1.5 MiB limit (ErrTooLarge), a value the codec cannot encode or decode
//     (ErrCodec, naming the key). Bad input never panics, not even a panicking
//     codec.
//   - Errors are typed (see the Err variables) and wrap etcd's own. A write is
//     never re-sent after an ambiguous failure: a timeout or lost connection
//     after sending gives ErrUnknownOutcome, and only definite rejections
//     (the compare of a txn failing, etcd refusing before applying) are
//     retried, by Update and the Batcher. A write on a closed client is not
//     sent at all: ErrRejected.
//   - List reads the whole prefix at one revision, in pages, so any number of
//     keys stays within message limits.
//   - A Watcher never ends silently while its context lives: it resumes
//     broken watches from the last revision it delivered, losing and
//     repeating nothing, and answers compaction with an EventResync carrying
//     the full state. With WithPrevValue, an event whose previous value etcd
//     has compacted away says so (PrevUnknown) rather than pass for a new
//     key.
//   - Writes can be fenced by a lock hold or a leadership term:
//     store.Fenced(held) (or a term) returns a view whose every write,
//     its Batcher's included, etcd applies only while the hold or term
//     lasts, checked in the same transaction. A refused write wraps
//     ErrNotHeld (a rejection: nothing was applied) and the fence's Err.
//     lock.Held and election.Term implement Fence; kv depends on neither.
//   - The Batcher merges concurrent writes into shared txns (up to 128
//     operations, etcd's limit), each caller getting its own result, one bad
//     operation failing alone; writes of one key keep their order. PutAsync
//     returns a Future, so one goroutine can keep many writes in flight.
//
// A Store has no goroutines and needs no Close; a Watcher lives until its
// context ends (or Close); a Batcher has goroutines only while writes are
// pending, and Close waits for them. Client-side only: kv works with any
// *clientv3.Client, remote or in-process (coordkit.Node.Client).
package kv
