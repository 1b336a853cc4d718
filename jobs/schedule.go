package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
)

// Schedule runs the config's job on its cron schedule, in its time zone,
// never two at once (cron's SkipIfStillRunning: a run due while one is
// going is skipped, and said so). It returns when stop is closed, after
// the running job finishes; a job runs with ctx, which the caller cancels
// to cut a running job short.
func Schedule(ctx context.Context, cfg *configs.Config, opt Options, stop <-chan struct{}) error {
	if cfg.Schedule == "" {
		return fmt.Errorf("%w: %s: schedule: is required for mrrflow schedule", configs.ErrConfig, cfg.File)
	}
	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		return cfg.Errorf("schedule", "%q: %v", cfg.Schedule, err)
	}
	loc := cfg.Location()
	log := opt.Log
	opt.Command = "schedule"
	job := func() {
		// Each run reads the config as it was loaded; as_of "now" moves on.
		if _, err := Run(ctx, cfg, opt); err != nil && !errors.Is(err, ErrTooManyRejected) {
			log.Error().Err(err).Msg("scheduled run failed")
		}
		log.Info().Time("next_run", sched.Next(time.Now().In(loc))).Msg("waiting for the next run")
	}
	c := cron.New(cron.WithLocation(loc), cron.WithChain(cron.SkipIfStillRunning(cronLog{log})))
	c.Schedule(sched, cron.FuncJob(job))
	c.Start()
	log.Info().Str("schedule", cfg.Schedule).Str("timezone", loc.String()).
		Time("next_run", sched.Next(time.Now().In(loc))).Msg("scheduler started")
	<-stop
	log.Info().Msg("stopping: no new runs; waiting for the running one to finish (signal again to cancel it)")
	<-c.Stop().Done() // done when the running job is
	log.Info().Msg("scheduler stopped")
	return nil
}

// cronLog is what cron says, in the run's log.
type cronLog struct{ log zerolog.Logger }

func (l cronLog) Info(msg string, keysAndValues ...any) {
	if msg == "skip" { // SkipIfStillRunning's word
		l.log.Warn().Msg("a run is due, but the previous one is still going: skipped")
		return
	}
	l.log.Debug().Fields(keysAndValues).Msg("cron: " + msg)
}

func (l cronLog) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error().Err(err).Fields(keysAndValues).Msg("cron: " + msg)
}
