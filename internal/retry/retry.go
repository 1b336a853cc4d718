package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy is how long to wait between attempts, and for how long in all.
type Policy struct {
	First, Max time.Duration // the first wait, and the longest
	Total      time.Duration // no attempt starts after this long
}

// Attempt is a failed attempt that will be tried again.
type Attempt struct {
	N    int           // the attempt that failed, from 1
	Err  error         // how it failed
	Wait time.Duration // before the next one
}

// Do runs op until it succeeds, fails permanently (transient says no, or
// ctx is done), or the policy's total time is spent; it tells onRetry of
// every failed attempt it tries again. It returns op's last error and the
// number of attempts made.
func Do(ctx context.Context, p Policy, op func() error, transient func(error) bool, onRetry func(Attempt)) (int, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = p.First, p.Max, p.Total
	attempts := 0
	err := backoff.RetryNotify(func() error {
		attempts++
		err := op()
		if err != nil && (!transient(err) || ctx.Err() != nil) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		if onRetry != nil {
			onRetry(Attempt{N: attempts, Err: err, Wait: wait})
		}
	})
	return attempts, err
}
