// Package soak is the one place fault tests read how long to run and which
// random seed to use, and the fault schedule ("nemesis") they share.
//
// Every fault test calls Start with a default duration short enough for CI.
// COORDKIT_SOAK overrides that duration for every fault test at once (for
// example COORDKIT_SOAK=2m for a soak run), and COORDKIT_SEED fixes the
// seed; without it each run draws a fresh one. The seed is logged, and a
// failing test prints the command line that replays it.
//
// A seed determines the fault schedule completely (Schedule is a pure
// function of the seed, the duration and the cluster size), and Inject
// applies it at the same offsets from its start: the same seed replays the
// same faults. The workload's interleaving is real concurrency and is not
// replayed.
//
// soak is test support: only tests import it.
package soak
