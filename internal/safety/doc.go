// Package safety checks what the lock and election recipes promise, from
// outside them: Store is external storage guarded by fencing tokens, as a
// database the lock protects would be, that records who wrote with which
// token; Holds records when each holder believed it held, and finds holds
// that overlapped when they must not.
//
// Both can be built broken on purpose (NewStore(false) ignores tokens), so
// that negative controls show the checks catch what they are meant to.
// safety is test support: only tests import it.
package safety
