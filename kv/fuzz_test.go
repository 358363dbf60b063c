package kv

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/coordkit/coordkit/internal/watchresume"
)

type fuzzDoc struct {
	Name string            `json:"name"`
	N    int64             `json:"n"`
	Tags []string          `json:"tags"`
	M    map[string]string `json:"m"`
	P    *fuzzDoc          `json:"p"`
}

// FuzzKeysPrefixesAndCodecs throws arbitrary prefixes, keys and stored bytes
// at the validation and codec layer, which runs before any request: it must
// never panic, must reject exactly what it documents, and must keep every
// key of a store inside the store's range and out of its siblings'.
func FuzzKeysPrefixesAndCodecs(f *testing.F) {
	f.Add("svc", "a", []byte(`{"name":"x","n":1}`))
	f.Add("", "", []byte(nil))
	f.Add("svc/", "a/b", []byte(`"eric"`))
	f.Add("/", "\x00", []byte("\xff\xfe"))
	f.Add("\xff\xff", "\xff", []byte(`[1,2,3]`))
	f.Add("svc", "", []byte(`{"p":{"p":{"p":null}}}`))
	f.Add(strings.Repeat("p", 3000), "k", []byte(`1e999`))
	f.Fuzz(func(t *testing.T, prefix, key string, data []byte) {
		o := defaultOptions()
		p, err := normalizePrefix(prefix, o.maxRequestBytes)
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("prefix %q: unexpected error %v", prefix, err)
			}
			return
		}
		switch {
		case (p == "") != (prefix == ""):
			t.Fatalf("prefix %q normalised to %q", prefix, p)
		case p != "" && (!strings.HasSuffix(p, "/") || !strings.HasPrefix(p, prefix)):
			t.Fatalf("prefix %q normalised to %q", prefix, p)
		}
		if again, _ := normalizePrefix(p, o.maxRequestBytes); again != p {
			t.Fatalf("normalising %q is not idempotent: %q", p, again)
		}

		err = o.checkKey("put", p, key)
		switch {
		case key == "":
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("empty key accepted: %v", err)
			}
			return
		case len(p)+len(key) > o.maxRequestBytes-requestOverhead:
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("oversized key accepted: %v", err)
			}
			return
		case err != nil:
			t.Fatalf("key %q rejected: %v", key, err)
		}

		// The key lies in the store's range, and not in a sibling's.
		full := p + key
		if !inRange(full, watchresume.Prefix(p)) {
			t.Fatalf("key %q outside the range of prefix %q", full, p)
		}
		if p != "" {
			sibling := p[:len(p)-1] + "0" // "svc/" → "svc0": a sibling store's prefix
			if inRange(sibling+"/"+key, watchresume.Prefix(p)) {
				t.Fatalf("sibling key %q inside the range of prefix %q", sibling+"/"+key, p)
			}
		}
		s := &Store[fuzzDoc]{prefix: p, codec: JSONCodec[fuzzDoc](), o: o}
		if got := s.relKey([]byte(full)); got != key {
			t.Fatalf("relative key of %q is %q, want %q", full, got, key)
		}
		_ = o.checkSize("put", full, 3, len(data))

		// Codecs never panic, and their errors name the key.
		checkDecode(t, JSONCodec[fuzzDoc](), full, data)
		checkDecode(t, JSONCodec[any](), full, data)
		checkDecode(t, JSONCodec[float64](), full, data)
		checkDecode(t, JSONCodec[[]int](), full, data)
		if v, err := decode(StringCodec, full, data); err != nil || v != string(data) {
			t.Fatalf("string codec: %q, %v", v, err)
		}
		if v, err := decode(BytesCodec, full, data); err != nil || string(v) != string(data) {
			t.Fatalf("bytes codec: %q, %v", v, err)
		}
		if enc, err := encode(StringCodec, full, string(data)); err != nil || string(enc) != string(data) {
			t.Fatalf("string codec encode: %q, %v", enc, err)
		}
		// Whatever decodes as a document survives a round trip.
		if v, err := decode(JSONCodec[fuzzDoc](), full, data); err == nil {
			enc, err := encode(JSONCodec[fuzzDoc](), full, v)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", v, err)
			}
			v2, err := decode(JSONCodec[fuzzDoc](), full, enc)
			if err != nil || !reflect.DeepEqual(v, v2) {
				t.Fatalf("round trip of %q: %+v != %+v (%v)", data, v, v2, err)
			}
		}
	})
}

func checkDecode[T any](t *testing.T, c Codec[T], key string, data []byte) {
	t.Helper()
	_, err := decode(c, key, data)
	if err != nil && (!errors.Is(err, ErrCodec) || !strings.Contains(err.Error(), short(key))) {
		t.Fatalf("decode error does not wrap ErrCodec and name the key: %v", err)
	}
}

// inRange reports whether key lies in r, as etcd would decide.
func inRange(key string, r watchresume.Range) bool {
	if key < r.Key {
		return false
	}
	return r.End == "\x00" || key < r.End
}
