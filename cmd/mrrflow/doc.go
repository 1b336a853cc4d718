// Command mrrflow runs mrrflow's jobs: see `mrrflow --help`. One file per
// subcommand; main is one call to run with the process's signals.
//
// It may import: configs, jobs, load, metrics, report, schemas,
// internal/gen, internal/store.
package main
