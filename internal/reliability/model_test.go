package reliability_test

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// The model: one etcd key, as kv sees it. Histories are partitioned by key
// (etcd keys are independent registers; revisions are global, so each key
// sees increasing, not consecutive, revisions).

type opKind int

const (
	opGet opKind = iota
	opPut
	opCAS
	opUpdate
	opDelete
)

func (k opKind) String() string {
	return [...]string{"get", "put", "cas", "update", "delete"}[k]
}

// input is an operation as called. Every write writes a value (an ID)
// that no other write writes.
type input struct {
	kind    opKind
	key     string
	value   string // writes: the ID written
	expect  int64  // cas: the mod revision compared (0: absent)
	batched bool   // put, delete: through the Batcher
	serial  bool   // get: serializable (the negative control)
}

// output is an operation's result.
type output struct {
	unknown  bool   // a write whose outcome is unknown: maybe applied
	found    bool   // get: the key exists; delete: it existed
	value    string // get: the value's ID
	prev     string // update: the ID its function saw ("" for absent)
	rev      int64  // get: mod revision; writes: the write's revision
	conflict bool   // cas: refused, the mod revision differed
}

// state is the key: absent, or holding value at mod revision modRev (0
// while a possibly applied write's revision is not known yet). floor is a
// revision below every later write's: the last revision known for the key.
type state struct {
	exists bool
	value  string
	modRev int64
	floor  int64
}

// maybe is the state after a write of value whose revision is unknown.
func (s state) maybe(value string) state {
	return state{exists: true, value: value, floor: s.floor}
}

func (s state) written(value string, rev int64) state {
	return state{exists: true, value: value, modRev: rev, floor: rev}
}

func step(st, in, out any) []any {
	s, i, o := st.(state), in.(input), out.(output)
	one := func(ok bool, next state) []any {
		if !ok {
			return nil
		}
		return []any{next}
	}
	switch i.kind {
	case opGet:
		switch {
		case !o.found:
			return one(!s.exists, s)
		case !s.exists || s.value != o.value:
			return nil
		case s.modRev != 0:
			return one(o.rev == s.modRev, s)
		default: // the revision of a possibly applied write, learned now
			return one(o.rev > s.floor, s.written(s.value, o.rev))
		}
	case opPut:
		if o.unknown {
			return []any{s, s.maybe(i.value)}
		}
		return one(o.rev > s.floor, s.written(i.value, o.rev))
	case opUpdate:
		if o.unknown {
			return []any{s, s.maybe(i.value)}
		}
		saw := (o.prev == "" && !s.exists) || (s.exists && o.prev == s.value)
		return one(saw && o.rev > s.floor, s.written(i.value, o.rev))
	case opCAS:
		var match, differ bool // could the compare succeed, fail?
		switch {
		case i.expect == 0:
			match, differ = !s.exists, s.exists
		case !s.exists:
			differ = true
		case s.modRev != 0:
			match, differ = s.modRev == i.expect, s.modRev != i.expect
		default:
			match, differ = i.expect > s.floor, true
		}
		switch {
		case o.unknown:
			if match {
				return []any{s, s.maybe(i.value)}
			}
			return []any{s}
		case o.conflict:
			return one(differ, s)
		default:
			return one(match && o.rev > s.floor, s.written(i.value, o.rev))
		}
	case opDelete:
		gone := state{floor: s.floor}
		switch {
		case o.unknown:
			return []any{s, gone}
		case o.found:
			return one(s.exists && o.rev > s.floor, state{floor: o.rev})
		default: // nothing to delete: the revision is the store's
			return one(!s.exists && o.rev >= s.floor, state{floor: max(s.floor, o.rev)})
		}
	}
	return nil
}

var kvModel = (&porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(input).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, len(keys))
		for i, k := range keys {
			out[i] = byKey[k]
		}
		return out
	},
	Init: func() []any { return []any{state{}} },
	Step: step,
	DescribeOperation: func(in, out any) string {
		i, o := in.(input), out.(output)
		verb := i.kind.String()
		if i.batched {
			verb = "batched " + verb
		}
		if i.serial {
			verb = "serializable " + verb
		}
		var arg string
		switch i.kind {
		case opPut, opUpdate:
			arg = ", " + i.value
		case opCAS:
			arg = fmt.Sprintf(", @%d, %s", i.expect, i.value)
		}
		call := fmt.Sprintf("%s(%s%s)", verb, i.key, arg)
		switch {
		case o.unknown:
			return call + " -> unknown outcome"
		case o.conflict:
			return call + " -> conflict"
		case i.kind == opGet && !o.found:
			return call + " -> not found"
		case i.kind == opGet:
			return fmt.Sprintf("%s -> %s @%d", call, o.value, o.rev)
		case i.kind == opUpdate:
			return fmt.Sprintf("%s -> from %q @%d", call, o.prev, o.rev)
		case i.kind == opDelete:
			return fmt.Sprintf("%s -> existed %v @%d", call, o.found, o.rev)
		}
		return fmt.Sprintf("%s -> @%d", call, o.rev)
	},
	DescribeState: func(st any) string {
		s := st.(state)
		if !s.exists {
			return fmt.Sprintf("absent (floor %d)", s.floor)
		}
		if s.modRev == 0 {
			return fmt.Sprintf("%s @? (> %d)", s.value, s.floor)
		}
		return fmt.Sprintf("%s @%d", s.value, s.modRev)
	},
}).ToModel()
