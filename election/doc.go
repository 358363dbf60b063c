// Package election elects one leader among candidates, on etcd, with
// leadership signals a leader can trust.
//
// A candidate calls Election.Campaign and gets a Term once it leads. The
// Term's Context is cancelled as soon as leadership may be gone — its key
// deleted, its lease expired or revoked, or no keep-alive confirmed before
// the lease's deadline (counted from when the keep-alive was sent, so the
// signal comes no later than etcd can expire the lease) — and Term.Err says
// why. Term.Token is a fencing token, and
// Term.Do and Term.Txn (or kv's Store.Fenced(term)) write only while the
// term leads. A Runner wraps this into a supervised loop that re-campaigns
// after every loss until its context ends, and says whether it leads
// (IsLeader); Run is its short form. Anyone can ask who leads
// (Election.Leader) or follow every change (Election.Observe).
//
// A Term has the methods of a lock.Held, with the same meaning (Key, Token,
// Lease, Context, Done, Err, IsOwner, Txn, Do), and the sentinels are the
// same values (ErrLost, ErrReleased, ErrLeaseLost, ErrNotHeld).
//
// Guarantees:
//
//   - Campaign never returns a Term whose lease or key is gone: losing either
//     while waiting makes it return ErrLeaseLost, and both are checked
//     again just before it returns.
//   - Terms' Tokens strictly increase: a term elected after another has a
//     larger Token.
//   - Fenced writes (Term.Do, Term.Txn, Proclaim) are applied only while
//     the term leads; one refused because the term ended wraps ErrNotHeld
//     (nothing applied), and any other failure is ErrRejected (nothing
//     applied) or ErrUnknownOutcome (never re-sent).
//   - Resign ends the term's Context before its key goes, deletes only
//     this term's key, and can be retried (details at Term.Resign).
//   - Observe reports the current state, then every change, including
//     "nobody leads"; it survives compaction and reconnects, never repeats a
//     state, and always delivers the latest one.
//   - Run calls OnDemoted only after OnElected, and resigns when its context
//     ends so that a successor takes over at once.
//
// The key layout is that of etcd's client/v3/concurrency.Election: a
// candidate's key is name + "/" + its lease ID in hex, and the leader is the
// candidate with the lowest create revision. coordkit candidates, `etcdctl
// elect NAME` and concurrency.Election users therefore take part in the same
// elections and see each other as leaders.
//
// Failover takes one round trip after Resign, and about one lease TTL
// (WithTTL, default 10 s) after a leader vanishes without resigning.
package election
