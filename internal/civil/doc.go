// Package civil is calendar arithmetic on days counted from 1970-01-01 in
// the proleptic Gregorian calendar, in integers (H. Hinnant's
// days_from_civil and civil_from_days): no time.Time, no allocation, for
// the hot paths that turn dates into day numbers and back.
//
// It may import: nothing of mrrflow.
package civil
