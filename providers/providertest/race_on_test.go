//go:build race

package providertest_test

// raceEnabled reports whether the race detector is on.
const raceEnabled = true
