//go:build race

package jobs

// raceDetector says the tests run under -race, where they run about ten
// times slower: the longest ones do less.
const raceDetector = true
