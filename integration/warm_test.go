package integration

import (
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/goccy/bigquery-emulator/server"
)

func TestWarm(t *testing.T) {
	_ = server.TempStorage
	_ = bigquery.Schema{}
}
