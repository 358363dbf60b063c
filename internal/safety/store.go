package safety

import (
	"errors"
	"fmt"
	"sync"
)

// ErrStaleToken is a fenced Store's answer to a token lower than one it
// has already seen: the caller's hold has been superseded.
var ErrStaleToken = errors.New("safety: stale fencing token")

// Write is a write the Store accepted.
type Write struct {
	Who   string
	Token int64
	Read  int64 // the value the writer read, and incremented
	Value int64
}

// Store is an external counter guarded by fencing tokens. A holder reads
// it and writes the value plus one, both with its token; a fenced Store
// refuses either with a token lower than the highest it has seen, so a
// holder that lost its hold without knowing cannot overwrite the work of
// the next. Store is safe for concurrent use.
type Store struct {
	fenced bool

	mu      sync.Mutex
	highest int64
	value   int64
	writes  []Write
	refused int
}

// NewStore returns an empty store; fenced false builds the broken variant
// that ignores tokens, for negative controls.
func NewStore(fenced bool) *Store { return &Store{fenced: fenced} }

func (s *Store) admit(token int64) error {
	if s.fenced && token < s.highest {
		s.refused++
		return fmt.Errorf("%w: %d, after %d", ErrStaleToken, token, s.highest)
	}
	s.highest = max(s.highest, token)
	return nil
}

// Read returns the counter, registering token.
func (s *Store) Read(token int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.admit(token); err != nil {
		return 0, err
	}
	return s.value, nil
}

// Increment writes read+1, read being what the caller's Read returned.
func (s *Store) Increment(who string, token, read int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.admit(token); err != nil {
		return err
	}
	s.value = read + 1
	s.writes = append(s.writes, Write{Who: who, Token: token, Read: read, Value: s.value})
	return nil
}

// Refused is the number of reads and writes refused for a stale token.
func (s *Store) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Writes returns the accepted writes, in order.
func (s *Store) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Write(nil), s.writes...)
}

// Check returns every violation in the accepted writes: a token lower than
// an earlier write's (a superseded holder wrote), or a write that did not
// increment the value it replaced (a lost update: two holders read the same
// value).
func (s *Store) Check() []string {
	var out []string
	var prev Write
	for i, w := range s.Writes() {
		if i > 0 && w.Token < prev.Token {
			out = append(out, fmt.Sprintf("%s wrote with token %d after %s with token %d", w.Who, w.Token, prev.Who, prev.Token))
		}
		if w.Read != prev.Value {
			out = append(out, fmt.Sprintf("lost update: %s (token %d) wrote %d over %d, having read %d (previous write by %s, token %d)",
				w.Who, w.Token, w.Value, prev.Value, w.Read, prev.Who, prev.Token))
		}
		prev = w
	}
	return out
}
