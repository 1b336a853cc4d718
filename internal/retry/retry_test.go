package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errPassing, errFinal = errors.New("passing"), errors.New("final")

func transient(err error) bool { return errors.Is(err, errPassing) }

var quick = Policy{First: time.Millisecond, Max: 4 * time.Millisecond, Total: time.Second}

// A transient failure is tried again, and each retry is told with its
// attempt and wait; a permanent one ends at once; so does a spent total.
func TestDo(t *testing.T) {
	calls := 0
	var told []Attempt
	n, err := Do(context.Background(), quick, func() error {
		calls++
		if calls < 3 {
			return errPassing
		}
		return nil
	}, transient, func(a Attempt) { told = append(told, a) })
	if err != nil || n != 3 || len(told) != 2 || told[0].N != 1 || told[1].N != 2 || told[0].Wait <= 0 || !errors.Is(told[1].Err, errPassing) {
		t.Fatalf("err %v after %d attempts, told %+v", err, n, told)
	}

	calls = 0
	n, err = Do(context.Background(), quick, func() error { calls++; return errFinal }, transient, nil)
	if !errors.Is(err, errFinal) || n != 1 || calls != 1 {
		t.Fatalf("permanent: err %v after %d attempts", err, n)
	}

	start := time.Now()
	n, err = Do(context.Background(), Policy{First: time.Millisecond, Max: 2 * time.Millisecond, Total: 30 * time.Millisecond},
		func() error { return errPassing }, transient, nil)
	if !errors.Is(err, errPassing) || n < 3 || time.Since(start) > 2*time.Second {
		t.Fatalf("spent: err %v after %d attempts in %s", err, n, time.Since(start))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err = Do(ctx, quick, func() error { return errPassing }, transient, nil)
	if err == nil || n > 1 {
		t.Fatalf("cancelled: err %v after %d attempts", err, n)
	}
}
