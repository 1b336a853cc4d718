package load

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mrrflow/mrrflow/schemas"
)

// bqSchema is a table's BigQuery schema, with its column descriptions.
func bqSchema(t *schemas.Table) bigquery.Schema {
	out := make(bigquery.Schema, len(t.Columns))
	for i, c := range t.Columns {
		f := &bigquery.FieldSchema{Name: c.Name, Description: c.Doc}
		switch c.Type.ID() {
		case arrow.STRING:
			f.Type = bigquery.StringFieldType
		case arrow.INT64:
			f.Type = bigquery.IntegerFieldType
		case arrow.FLOAT64:
			f.Type = bigquery.FloatFieldType
		case arrow.BOOL:
			f.Type = bigquery.BooleanFieldType
		case arrow.DATE32:
			f.Type = bigquery.DateFieldType
		case arrow.TIMESTAMP:
			f.Type = bigquery.TimestampFieldType
		case arrow.LIST:
			f.Type, f.Repeated = bigquery.StringFieldType, true
		}
		out[i] = f
	}
	return out
}

func (b *BigQuery) ensureDataset(ctx context.Context) error {
	ds := b.client.Dataset(b.dataset)
	return b.retry(ctx, "dataset "+b.dataset, func() error {
		_, err := ds.Metadata(ctx)
		if isNotFound(err) {
			err = ds.Create(ctx, &bigquery.DatasetMetadata{Location: b.location,
				Description: "mrrflow: subscription revenue tables (see the column descriptions)"})
			if isDuplicate(err) {
				return nil
			}
		}
		return err
	})
}

// ensureTable creates a missing table (partitioned by month and clustered
// as its definition says), or adds the columns it lacks; any other schema
// difference is refused.
func (b *BigQuery) ensureTable(ctx context.Context, t *schemas.Table) error {
	tbl := b.client.Dataset(b.dataset).Table(t.Name)
	want := bqSchema(t)
	return b.retry(ctx, "table "+t.Name, func() error {
		md, err := tbl.Metadata(ctx)
		if isNotFound(err) {
			// Through the API: the emulator loses the partitioning of a
			// CREATE TABLE ... PARTITION BY statement.
			meta := &bigquery.TableMetadata{Schema: want, Description: t.Doc}
			if t.PartitionBy != "" {
				meta.TimePartitioning = &bigquery.TimePartitioning{Type: bigquery.MonthPartitioningType, Field: t.PartitionBy}
			}
			if len(t.ClusterBy) > 0 {
				meta.Clustering = &bigquery.Clustering{Fields: t.ClusterBy}
			}
			return tbl.Create(ctx, meta)
		}
		if err != nil {
			return err
		}
		have := md.Schema
		if len(have) > len(want) {
			return fmt.Errorf("table %s has %d columns, mrrflow writes %d: mrrflow only adds columns; drop the table to have it recreated", t.Name, len(have), len(want))
		}
		for i, f := range have {
			if f.Name != want[i].Name || f.Type != want[i].Type || f.Repeated != want[i].Repeated {
				return fmt.Errorf("table %s: column %d is %s %s, mrrflow writes %s %s: only added columns are applied in place; drop the table to have it recreated",
					t.Name, i+1, f.Name, f.Type, want[i].Name, want[i].Type)
			}
		}
		if len(have) < len(want) {
			b.log.Info().Str("table", t.Name).Int("columns_added", len(want)-len(have)).Msg("adding columns")
			_, err := tbl.Update(ctx, bigquery.TableMetadataToUpdate{Schema: want}, md.ETag)
			return err
		}
		return nil
	})
}

// ensureViews creates the analyst views: the monthly figures with money as
// NUMERIC in major units.
func (b *BigQuery) ensureViews(ctx context.Context) error {
	var cols []string
	for _, c := range schemas.MRRMonthly.Columns {
		if c.Type.ID() == arrow.INT64 && strings.Contains(c.Doc, "minor units") {
			// Quoted: "new" is a reserved word.
			cols = append(cols, fmt.Sprintf("CAST(`%s` AS NUMERIC) / POW(10, %s) AS `%s`", c.Name, minorDigitsSQL(), c.Name))
		} else {
			cols = append(cols, "`"+c.Name+"`")
		}
	}
	query := fmt.Sprintf("SELECT %s FROM `%s.%s.mrr_monthly`", strings.Join(cols, ", "), b.project, b.dataset)
	view := b.client.Dataset(b.dataset).Table("mrr_monthly_major")
	return b.retry(ctx, "view mrr_monthly_major", func() error {
		md, err := view.Metadata(ctx)
		if isNotFound(err) {
			return view.Create(ctx, &bigquery.TableMetadata{ViewQuery: query,
				Description: "mrr_monthly with money as NUMERIC in major units of the reporting currency (dollars, not cents)."})
		}
		if err != nil || md.ViewQuery == query {
			return err
		}
		_, err = view.Update(ctx, bigquery.TableMetadataToUpdate{ViewQuery: query}, md.ETag)
		return err
	})
}

// minorDigitsSQL is the number of decimals of the row's currency, as SQL:
// the lists of schemas.MinorDigits.
func minorDigitsSQL() string {
	quote := func(cs []string) string { return "'" + strings.Join(cs, "', '") + "'" }
	return fmt.Sprintf("CASE WHEN currency IN (%s) THEN 0 WHEN currency IN (%s) THEN 3 ELSE 2 END",
		quote(schemas.ZeroDecimalCurrencies), quote(schemas.ThreeDecimalCurrencies))
}
