package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/mrrflow/mrrflow/internal/retry"
	"github.com/mrrflow/mrrflow/internal/store"
)

// retry runs op with exponential backoff on transient errors (5xx, rate
// limits), logging each retry; other errors fail at once with what to fix.
func (b *BigQuery) retry(ctx context.Context, step string, op func() error) error {
	p := retry.Policy{First: 500 * time.Millisecond, Max: 10 * time.Second, Total: b.MaxWait}
	_, err := retry.Do(ctx, p, op, transientBQ, func(a retry.Attempt) {
		b.log.Warn().Err(a.Err).Str("step", step).Int("attempt", a.N).Int64("retry_in_ms", a.Wait.Milliseconds()).
			Msg("BigQuery: transient error, retrying")
	})
	if err != nil {
		return fmt.Errorf("%s: %w%s", step, err, hintBQ(err))
	}
	return nil
}

func transientBQ(err error) bool {
	if isDuplicate(err) {
		return false
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		if ge.Code >= 500 || ge.Code == http.StatusTooManyRequests {
			return !isDuplicate(err)
		}
		for _, e := range ge.Errors {
			if e.Reason == "rateLimitExceeded" || e.Reason == "backendError" || e.Reason == "internalError" {
				return true
			}
		}
	}
	return false
}

func hintBQ(err error) string {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return ""
	}
	for _, e := range ge.Errors {
		switch e.Reason {
		case "accessDenied":
			return " (the account needs roles/bigquery.dataEditor on the dataset and roles/bigquery.jobUser on the project)"
		case "quotaExceeded":
			return " (a BigQuery quota is exhausted: see the project's quotas, or run less often)"
		case "invalid":
			return " (BigQuery refused the data or the statement: see the message above)"
		}
	}
	switch ge.Code {
	case http.StatusUnauthorized:
		return " (the credentials are not valid: check credentials_file or GOOGLE_APPLICATION_CREDENTIALS)"
	case http.StatusForbidden:
		return " (permission denied: the account needs roles/bigquery.dataEditor and roles/bigquery.jobUser)"
	}
	return ""
}

// isNotFound tells a missing table or dataset: 404 from the API, or a job
// that failed with reason notFound. Emulator workaround: it answers a
// query of a missing table with another code and "not found" in the
// message.
func isNotFound(err error) bool {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code == http.StatusNotFound || strings.Contains(strings.ToLower(ge.Message), "not found")
	}
	var be *bigquery.Error
	return errors.As(err, &be) && be.Reason == "notFound"
}

// isDuplicate tells a job or dataset that exists already: 409 from
// BigQuery. Emulator workaround: it answers a duplicate job id with 500
// "job ... is already created".
func isDuplicate(err error) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return false
	}
	msg := strings.ToLower(ge.Message)
	return ge.Code == http.StatusConflict ||
		(ge.Code >= 500 && (strings.Contains(msg, "already created") || strings.Contains(msg, "already exist")))
}

func (b *BigQuery) readState() (map[string]map[string]string, error) {
	state := map[string]map[string]string{}
	data, err := os.ReadFile(b.state)
	if errors.Is(err, os.ErrNotExist) {
		return state, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &state); err != nil {
		return nil, fmt.Errorf("read %s: %w", b.state, err)
	}
	return state, nil
}

func (b *BigQuery) writeState(state map[string]map[string]string) error {
	data, _ := json.MarshalIndent(state, "", "  ")
	return store.WriteAtomic(b.state, data)
}
