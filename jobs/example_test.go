package jobs

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/dbtest"
)

// The README's database example works: its SQL loads into a schema, and
// its config reads it.
func TestPostgresExample(t *testing.T) {
	d := dbtest.New(t, "postgres")
	script, err := os.ReadFile(filepath.Join("..", "examples", "postgres", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	// The script makes a schema "billing"; give it a name of this test's.
	schema := d.Name + "_example"
	db, err := sql.Open("pgx", dbtest.PostgresAdmin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Registered after dbtest's own cleanup, so it runs before it.
		if _, err := db.Exec("drop schema if exists " + schema + " cascade"); err != nil {
			t.Errorf("drop the example's schema: %v", err)
		}
		db.Close()
	})
	if _, err := db.Exec(strings.ReplaceAll(string(script), "billing", schema)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BILLING_DSN", dbtest.PostgresAdmin+"&search_path="+schema)
	cfg, err := configs.Load(filepath.Join("..", "examples", "postgres", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wh := t.TempDir()
	if _, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	got := tableRows(t, wh, "mrr_movements", []string{"date", "customer_id", "movement", "amount"})
	if !slices.Equal(got, []string{"2024-01-01,cus_1,new,9900", "2024-01-15,cus_2,new,10000"}) {
		t.Errorf("movements = %v", got)
	}
}
