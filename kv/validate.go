package kv

import (
	"fmt"
)

// MaxRequestBytes is etcd's default limit on the size of one request
// (--max-request-bytes, 1.5 MiB). Keys and values are checked against it
// before anything is sent; change it with WithMaxRequestBytes when the server
// runs with another limit.
const MaxRequestBytes = 1536 * 1024

const (
	// requestOverhead is kept free in every request for etcd's framing
	// (request header, user name, lease, compares).
	requestOverhead = 1024
	// opOverhead is the framing of one operation inside a txn.
	opOverhead = 32
)

// normalizePrefix turns a user prefix into the key prefix the store owns:
// "svc" and "svc/" become "svc/", so a store of "svc" never sees "svc2/x".
// The empty prefix stays empty: the store is the whole keyspace.
func normalizePrefix(prefix string, maxBytes int) (string, error) {
	if prefix == "" {
		return "", nil
	}
	if prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	if len(prefix) > maxBytes-requestOverhead {
		return "", fmt.Errorf("kv: new store: prefix of %d bytes: %w: a prefix must leave room for keys within the %d-byte request limit",
			len(prefix), ErrTooLarge, maxBytes)
	}
	return prefix, nil
}

// checkKey validates a key relative to the store's prefix.
func (o *options) checkKey(op, prefix, key string) error {
	if key == "" {
		return fmt.Errorf("kv: %s: %w: empty key; name the key under the store prefix %q (an empty key would be the prefix itself)",
			op, ErrInvalidName, prefix)
	}
	if n := len(prefix) + len(key); n > o.maxRequestBytes-requestOverhead {
		return fmt.Errorf("kv: %s %s: %w: key of %d bytes exceeds the %d-byte request limit",
			op, short(prefix+key), ErrTooLarge, n, o.maxRequestBytes)
	}
	return nil
}

// checkSize validates the size of a request carrying one key (nKeys times,
// e.g. in a compare and a put) and one value.
func (o *options) checkSize(op, fullKey string, nKeys, valueLen int) error {
	if n := nKeys*len(fullKey) + valueLen; n > o.maxRequestBytes-requestOverhead {
		return fmt.Errorf("kv: %s %s: %w: key and value take %d bytes, over the %d-byte request limit (less %d bytes of framing); store large blobs elsewhere and keep a reference in etcd",
			op, short(fullKey), ErrTooLarge, n, o.maxRequestBytes, requestOverhead)
	}
	return nil
}

// short quotes a key for an error message, cut to a readable length.
func short(key string) string {
	const max = 128
	if len(key) <= max {
		return fmt.Sprintf("%q", key)
	}
	return fmt.Sprintf("%q... (%d bytes)", key[:max], len(key))
}
