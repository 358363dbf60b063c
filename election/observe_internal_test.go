package election

import "testing"

func TestObserverCoalesces(t *testing.T) {
	o := &observer{out: make(chan Event, 1)}
	ev := func(v string) Event { return Event{Leader: Leader{Key: "k", Value: v, Token: 1}} }
	recvd := func() (Event, bool) {
		select {
		case e := <-o.out:
			return e, true
		default:
			return Event{}, false
		}
	}
	o.emit(ev("a"))
	o.emit(ev("b"))
	o.emit(ev("c"))
	if got, ok := recvd(); !ok || got != ev("c") {
		t.Fatalf("got %+v, %v; want the latest state only", got, ok)
	}
	if _, ok := recvd(); ok {
		t.Fatal("more than one event pending")
	}
	o.emit(ev("c"))
	if got, ok := recvd(); ok {
		t.Fatalf("state repeated: %+v", got)
	}
	// b then c again, unread: the reader already has c, so nothing is due.
	o.emit(ev("b"))
	o.emit(ev("c"))
	if got, ok := recvd(); ok {
		t.Fatalf("state repeated: %+v", got)
	}
	o.emit(Event{Vacant: true})
	if got, ok := recvd(); !ok || !got.Vacant {
		t.Fatalf("got %+v, %v; want vacant", got, ok)
	}
}
