package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/mrrflow/mrrflow/configs"
)

// Schedule runs the config's job on its cron schedule, in its time zone,
// never two at once (a run due while one is going is skipped, and said
// so). It returns when stop is done, after the running job finishes; a job
// runs with ctx, which the caller cancels to cut a running job short.
func Schedule(stop, ctx context.Context, cfg *configs.Config, opt Options) error {
	if cfg.Schedule == "" {
		return fmt.Errorf("%w: %s: schedule: is required for mrrflow schedule", configs.ErrConfig, cfg.File)
	}
	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		return cfg.Errorf("schedule", "%q: %v", cfg.Schedule, err)
	}
	loc := cfg.Location()
	log := opt.Log
	var mu sync.Mutex
	running := false
	var wg sync.WaitGroup
	job := func() {
		mu.Lock()
		if running {
			mu.Unlock()
			log.Warn().Msg("a run is due, but the previous one is still going: skipped")
			return
		}
		running = true
		mu.Unlock()
		wg.Add(1)
		defer func() {
			mu.Lock()
			running = false
			mu.Unlock()
			wg.Done()
		}()
		// Each run reads the config as it was loaded; as_of "now" moves on.
		c := *cfg
		o := opt
		o.Command = "schedule"
		if _, err := Run(ctx, &c, o); err != nil && !errors.Is(err, ErrTooManyRejected) {
			log.Error().Err(err).Msg("scheduled run failed")
		}
		log.Info().Time("next_run", sched.Next(time.Now().In(loc))).Msg("waiting for the next run")
	}
	c := cron.New(cron.WithLocation(loc))
	c.Schedule(sched, cron.FuncJob(job))
	c.Start()
	log.Info().Str("schedule", cfg.Schedule).Str("timezone", loc.String()).
		Time("next_run", sched.Next(time.Now().In(loc))).Msg("scheduler started")
	<-stop.Done()
	log.Info().Msg("stopping: no new runs; waiting for the running one to finish (signal again to cancel it)")
	<-c.Stop().Done()
	wg.Wait()
	log.Info().Msg("scheduler stopped")
	return nil
}
