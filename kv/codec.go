package kv

import (
	"encoding/json"
	"fmt"
	"unsafe"
)

// A Codec turns values of type T into the bytes stored in etcd and back.
// Implementations must be safe for concurrent use. A codec that panics is
// treated as failing: the panic becomes an error wrapping ErrCodec.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(data []byte) (T, error)
}

// JSONCodec returns the codec that stores values as JSON (encoding/json), the
// default of every Store.
func JSONCodec[T any]() Codec[T] { return jsonCodec[T]{} }

type jsonCodec[T any] struct{}

func (jsonCodec[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec[T]) Decode(data []byte) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

// StringCodec stores strings as their raw bytes, as etcdctl put does: use it
// with a Store[string] to read and write values other tools wrote.
var StringCodec Codec[string] = stringCodec{}

type stringCodec struct{}

func (stringCodec) Encode(v string) ([]byte, error)    { return []byte(v), nil }
func (stringCodec) Decode(data []byte) (string, error) { return string(data), nil }

// BytesCodec stores byte slices as they are, for a Store[[]byte]. Decoded
// slices are the caller's to keep and modify.
var BytesCodec Codec[[]byte] = bytesCodec{}

type bytesCodec struct{}

func (bytesCodec) Encode(v []byte) ([]byte, error) { return v, nil }

func (bytesCodec) Decode(data []byte) ([]byte, error) {
	if data == nil {
		return []byte{}, nil
	}
	return data, nil
}

// encodeValue encodes v as the string a request carries. StringCodec values
// go as they are, without the two copies of a []byte round trip.
func encodeValue[T any](c Codec[T], key string, v T) (string, error) {
	if _, ok := any(c).(stringCodec); ok {
		if s, ok := any(v).(string); ok {
			return s, nil
		}
	}
	data, err := encode(c, key, v)
	return string(data), err
}

// encode runs c.Encode, turning a failure or a panic into an error wrapping
// ErrCodec that names the key. Its message has no package prefix: callers
// add "kv: <op>: ".
func encode[T any](c Codec[T], key string, v T) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("encode value for %s: %w: codec panicked: %v", short(key), ErrCodec, r)
		}
	}()
	data, err = c.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("encode value for %s: %w: %w", short(key), ErrCodec, err)
	}
	return data, nil
}

// decode runs c.Decode, turning a failure or a panic into an error wrapping
// ErrCodec that names the key. Its message has no package prefix: callers
// add "kv: <op>: ".
//
// StringCodec values share data's memory instead of copying it: data is
// always a response of etcd's that kv owns and nobody modifies (StringCodec's
// own Decode, for other callers, copies).
func decode[T any, K ~string | ~[]byte](c Codec[T], key K, data []byte) (v T, err error) {
	if _, ok := any(c).(stringCodec); ok {
		if p, ok := any(&v).(*string); ok {
			*p = unsafe.String(unsafe.SliceData(data), len(data))
			return v, nil
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode value of %s (%d bytes): %w: codec panicked: %v", short(string(key)), len(data), ErrCodec, r)
		}
	}()
	v, err = c.Decode(data)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("decode value of %s (%d bytes): %w: %w; was it written with another codec?", short(string(key)), len(data), ErrCodec, err)
	}
	return v, nil
}
