package kv

import (
	"bytes"
	"unsafe"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Entry is a value read from the store with etcd's metadata about it.
type Entry[T any] struct {
	// Key is the key relative to the store's prefix, as given to Put.
	Key string
	// Value is the decoded value; the zero T for a delete event.
	Value T
	// CreateRevision is the revision that created the key (since its last
	// deletion).
	CreateRevision int64
	// ModRevision is the revision of the last write to the key: pass it to
	// CompareAndSwap and CompareAndDelete.
	ModRevision int64
	// Version counts the writes to the key since it was created, from 1.
	Version int64
	// Lease is the lease the key is attached to, 0 for none.
	Lease clientv3.LeaseID
}

// entry decodes an etcd key-value of this store. A decoding error has no
// package prefix (see decode).
func (s *Store[T]) entry(kv *mvccpb.KeyValue) (Entry[T], error) {
	e := s.meta(kv)
	if len(kv.Value) == 0 && kv.Version == 0 {
		return e, nil // a deletion carries no value
	}
	v, err := decode(s.codec, kv.Key, kv.Value)
	e.Value = v
	return e, err
}

// meta is an Entry without its value.
func (s *Store[T]) meta(kv *mvccpb.KeyValue) Entry[T] {
	return Entry[T]{
		Key:            s.relKey(kv.Key),
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
		Version:        kv.Version,
		Lease:          clientv3.LeaseID(kv.Lease),
	}
}

// relKey is an etcd key relative to the store's prefix. It shares full's
// memory rather than copying it: full is always a key of an etcd response
// that kv owns and nobody modifies.
func (s *Store[T]) relKey(full []byte) string {
	if bytes.HasPrefix(full, []byte(s.prefix)) {
		full = full[len(s.prefix):]
	}
	return unsafe.String(unsafe.SliceData(full), len(full))
}
