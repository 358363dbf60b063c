package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Instance is one registered endpoint of a service.
//
// In etcd it is the key <namespace>/<service>/<id> with a JSON value in the
// format of etcd's naming/endpoints package, {"Op":0,"Addr":...,
// "Metadata":{...}}, so etcd's Manager, its "etcd:///" gRPC resolver and
// `etcdctl get --prefix` read coordkit registrations, and coordkit reads
// theirs. Version, Zone, Weight and Draining are stored in Metadata under
// the reserved keys "version", "zone", "weight" and "draining".
type Instance struct {
	// Service names the service, one key segment: letters, digits, '.',
	// '_', '-' and ':' (gRPC names like "pkg.Payments" fit).
	Service string

	// ID identifies the instance within its service and must stay the same
	// across restarts, so a restarted instance replaces its old entry
	// rather than being listed next to it. Empty means derived from Addr
	// (which the key already scopes by service). Printable, no '/' or
	// spaces, at most 256 bytes.
	ID string

	// Addr is where clients connect, typically host:port.
	Addr string

	// Version, Zone and Weight describe the instance to pickers and
	// people. Weight 0 means the default weight, 1; pickers count weights
	// above math.MaxInt32 as math.MaxInt32.
	Version string
	Zone    string
	Weight  int

	// Draining marks an instance that is shutting down: pickers and the
	// gRPC resolver stop choosing it, while it stays listed.
	Draining bool

	// Metadata is free-form. The keys "version", "zone", "weight" and
	// "draining" are reserved for the fields above.
	Metadata map[string]string
}

// Reserved Metadata keys, holding Instance's typed fields in etcd.
const (
	MetaVersion  = "version"
	MetaZone     = "zone"
	MetaWeight   = "weight"
	MetaDraining = "draining"
)

// MaxValueSize is the largest encoded instance value Register accepts.
// Every watcher of the service holds a copy, so keep bulky data elsewhere.
const MaxValueSize = 32 << 10

const (
	maxServiceLen = 255
	maxIDLen      = 256
	maxAddrLen    = 1024
)

// String is service/id@addr, for logs.
func (i Instance) String() string { return i.Service + "/" + i.ID + "@" + i.Addr }

// maxWeight caps the weight pickers use, so that sums and products of
// weights (read from etcd, written by anyone) cannot overflow.
const maxWeight = math.MaxInt32

// weight is the weight pickers use: Weight (at most maxWeight), or 1 when
// unset.
func (i Instance) weight() int {
	if i.Weight > 0 {
		return min(i.Weight, maxWeight)
	}
	return 1
}

// clone copies the instance deeply enough that changing the copy's
// Metadata leaves the original alone.
func (i Instance) clone() Instance {
	i.Metadata = maps.Clone(i.Metadata)
	return i
}

func equalInstance(a, b Instance) bool {
	return a.Service == b.Service && a.ID == b.ID && a.Addr == b.Addr && a.Version == b.Version &&
		a.Zone == b.Zone && a.Weight == b.Weight && a.Draining == b.Draining && maps.Equal(a.Metadata, b.Metadata)
}

func validService(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty service name; name the service, e.g. \"payments\"", ErrInvalidName)
	}
	if len(s) > maxServiceLen {
		return fmt.Errorf("%w: service name of %d bytes; use at most %d", ErrInvalidName, len(s), maxServiceLen)
	}
	for _, r := range s {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || strings.ContainsRune("._-:", r)) {
			return fmt.Errorf("%w: service name %q holds %q; use letters, digits, '.', '_', '-' and ':' (it is one segment of an etcd key)", ErrInvalidName, s, r)
		}
	}
	return nil
}

// validID reports whether id can be a key segment.
func validID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("ID %q: want 1 to %d bytes", id, maxIDLen)
	}
	if i := strings.IndexFunc(id, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || !unicode.IsPrint(r) }); i >= 0 {
		return fmt.Errorf("ID %q holds %q at byte %d; IDs are one key segment: printable, no '/' or spaces", id, id[i:i+1], i)
	}
	return nil
}

// deriveID is the stable ID of an instance registered without one: its
// address when that is a valid ID, a hash of it otherwise (e.g. for
// unix:///path addresses).
func deriveID(addr string) string {
	if validID(addr) == nil {
		return addr
	}
	sum := sha256.Sum256([]byte(addr))
	return "addr-" + hex.EncodeToString(sum[:8])
}

// prepare validates inst, fills a derived ID, and returns it with its
// encoded value.
func prepare(inst Instance) (Instance, []byte, error) {
	inst = inst.clone()
	if err := validService(inst.Service); err != nil {
		return inst, nil, err
	}
	switch {
	case inst.Addr == "":
		return inst, nil, fmt.Errorf("%w: %s: empty Addr; set where clients connect, e.g. \"10.0.0.7:8080\"", ErrInvalidInstance, inst.Service)
	case len(inst.Addr) > maxAddrLen:
		return inst, nil, fmt.Errorf("%w: %s: Addr is %d bytes, at most %d", ErrInvalidInstance, inst.Service, len(inst.Addr), maxAddrLen)
	case strings.IndexFunc(inst.Addr, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return inst, nil, fmt.Errorf("%w: %s: Addr %q holds spaces or control characters", ErrInvalidInstance, inst.Service, inst.Addr)
	case inst.Weight < 0:
		return inst, nil, fmt.Errorf("%w: %s: Weight %d is negative; use 0 for the default weight", ErrInvalidInstance, inst.Service, inst.Weight)
	}
	if inst.ID == "" {
		inst.ID = deriveID(inst.Addr)
	}
	if err := validID(inst.ID); err != nil {
		return inst, nil, fmt.Errorf("%w: %s: %v", ErrInvalidInstance, inst.Service, err)
	}
	for k := range inst.Metadata {
		switch k {
		case "":
			return inst, nil, fmt.Errorf("%w: %s: empty Metadata key", ErrInvalidInstance, inst)
		case MetaVersion, MetaZone, MetaWeight, MetaDraining:
			return inst, nil, fmt.Errorf("%w: %s: Metadata key %q is reserved; set Instance.%s instead", ErrInvalidInstance, inst, k, strings.ToUpper(k[:1])+k[1:])
		}
	}
	v, err := encode(inst)
	if err != nil {
		return inst, nil, fmt.Errorf("%w: %s: %v", ErrInvalidInstance, inst, err)
	}
	if len(v) > MaxValueSize {
		return inst, nil, fmt.Errorf("%w: %s: encoded value is %d bytes, at most %d; keep bulky metadata elsewhere", ErrInvalidInstance, inst, len(v), MaxValueSize)
	}
	return inst, v, nil
}

// wire is the stored value: etcd's naming/endpoints format. Op 0 is "Add",
// as the Manager writes it.
type wire struct {
	Op       uint8
	Addr     string
	Metadata map[string]string `json:",omitempty"`
}

func encode(inst Instance) ([]byte, error) {
	md := maps.Clone(inst.Metadata)
	set := func(k, v string) {
		if v != "" {
			if md == nil {
				md = make(map[string]string, 4)
			}
			md[k] = v
		}
	}
	set(MetaVersion, inst.Version)
	set(MetaZone, inst.Zone)
	if inst.Weight > 0 {
		set(MetaWeight, strconv.Itoa(inst.Weight))
	}
	if inst.Draining {
		set(MetaDraining, "true")
	}
	return json.Marshal(wire{Addr: inst.Addr, Metadata: md})
}

// decode reads a stored value, from coordkit or any writer of etcd's
// endpoints format. Metadata that is not a JSON object is ignored;
// non-string values are kept as their JSON text.
func decode(service, id string, value []byte) (Instance, error) {
	// Fast path: coordkit's own values, whose metadata is all strings.
	var fast wire
	md := map[string]string(nil)
	if json.Unmarshal(value, &fast) == nil {
		md = fast.Metadata
	} else {
		var w struct {
			Addr     string
			Metadata json.RawMessage
		}
		if err := json.Unmarshal(value, &w); err != nil {
			return Instance{}, fmt.Errorf("not an endpoints JSON value: %v", err)
		}
		fast.Addr = w.Addr
		var raw map[string]json.RawMessage
		if json.Unmarshal(w.Metadata, &raw) == nil && len(raw) > 0 {
			md = make(map[string]string, len(raw))
			for k, v := range raw {
				var s string
				if json.Unmarshal(v, &s) != nil {
					s = string(v)
				}
				md[k] = s
			}
		}
	}
	if fast.Addr == "" {
		return Instance{}, fmt.Errorf("no Addr")
	}
	inst := Instance{Service: service, ID: id, Addr: fast.Addr}
	if len(md) == 0 {
		return inst, nil
	}
	if v, ok := md[MetaVersion]; ok {
		inst.Version = v
		delete(md, MetaVersion)
	}
	if v, ok := md[MetaZone]; ok {
		inst.Zone = v
		delete(md, MetaZone)
	}
	if v, ok := md[MetaWeight]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			inst.Weight = n
			delete(md, MetaWeight)
		}
	}
	if v, ok := md[MetaDraining]; ok {
		if b, err := strconv.ParseBool(v); err == nil {
			inst.Draining = b
			delete(md, MetaDraining)
		}
	}
	if len(md) > 0 {
		inst.Metadata = md
	}
	return inst, nil
}

// servicePrefix is the key prefix of a service's instances, and the
// target of etcd's endpoints Manager plus "/".
func servicePrefix(ns, service string) string { return ns + "/" + service + "/" }

func instanceKey(ns string, inst Instance) string { return servicePrefix(ns, inst.Service) + inst.ID }
