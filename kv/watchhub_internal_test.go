package kv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/coordtest"
)

func hubRefs(k hubKey) int {
	watchHubs.Lock()
	defer watchHubs.Unlock()
	if h := watchHubs.m[k]; h != nil {
		return h.refs
	}
	return 0
}

// TestWatchersOfAPrefixShareOneWatch: Watchers of one prefix on one client
// (from two Stores) subscribe to one shared watch, each gets every change
// after it joined, in order, and the last one out closes the shared watch.
func TestWatchersOfAPrefixShareOneWatch(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli := n.Client()
	s1, err := New[int](cli, "hub")
	require.NoError(t, err)
	s2, err := New[int](cli, "hub/") // the same prefix, normalised
	require.NoError(t, err)
	key := hubKey{cli: cli, prefix: "hub/"}

	w1, err := s1.Watch(ctx)
	require.NoError(t, err)
	_, err = s1.Put(ctx, "a", 1)
	require.NoError(t, err)
	ev := <-w1.Events()
	require.Equal(t, "a", ev.Entry.Key)
	w2, err := s2.Watch(ctx)
	require.NoError(t, err)
	w3, err := s1.Watch(ctx, WithPrevValue()) // another setting, another watch
	require.NoError(t, err)
	require.Equal(t, 2, hubRefs(key))
	require.Equal(t, 1, hubRefs(hubKey{cli: cli, prefix: "hub/", prev: true}))

	for i := range 5 {
		_, err = s2.Put(ctx, fmt.Sprint("k", i), i)
		require.NoError(t, err)
	}
	for _, w := range []*Watcher[int]{w1, w2, w3} {
		for i := range 5 {
			ev := <-w.Events()
			require.Equal(t, fmt.Sprint("k", i), ev.Entry.Key)
			require.Equal(t, i, ev.Entry.Value)
		}
	}

	// One Watcher leaving stops nothing for the others.
	w1.Close()
	require.ErrorIs(t, w1.Err(), context.Canceled)
	require.Equal(t, 1, hubRefs(key))
	_, err = s1.Put(ctx, "b", 2)
	require.NoError(t, err)
	ev = <-w2.Events()
	require.Equal(t, "b", ev.Entry.Key)
	w2.Close()
	require.Equal(t, 0, hubRefs(key), "the last one out closes the shared watch")
	w3.Close()

	// A new Watcher opens a new shared watch.
	w4, err := s1.Watch(ctx)
	require.NoError(t, err)
	defer w4.Close()
	_, err = s1.Put(ctx, "c", 3)
	require.NoError(t, err)
	ev = <-w4.Events()
	require.Equal(t, "c", ev.Entry.Key)
}

// TestSharedWatchSlowReaderDelaysNobody: a Watcher nobody reads does not
// hold back another of the same shared watch.
func TestSharedWatchSlowReaderDelaysNobody(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := New[int](n.Client(), "slow")
	require.NoError(t, err)
	idle, err := s.Watch(ctx)
	require.NoError(t, err)
	defer idle.Close()
	w, err := s.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	for i := range 200 {
		_, err = s.Put(ctx, "k", i)
		require.NoError(t, err)
		ev := <-w.Events()
		require.Equal(t, i, ev.Entry.Value)
	}
}
