//go:build race

package agent

// raceEnabled: built with -race.
const raceEnabled = true
