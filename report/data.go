package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

// Data is what the page draws, as read from the tables. Money is in minor
// units of Currency, as in the tables; the page divides by 10^Digits.
type Data struct {
	Currency string `json:"currency"`
	Digits   int    `json:"digits"`
	// CurrencyDisplay shows money with the currency's symbol or its code.
	CurrencyDisplay string   `json:"currency_display"`
	Warehouse       string   `json:"warehouse"`
	Months          []Month  `json:"months"`
	Cohorts         []Cohort `json:"cohorts"`
	Movers          []Mover  `json:"movers"`
	// MoversMonth is the month of the movers: the last one shown.
	MoversMonth string          `json:"movers_month"`
	Rejected    []RejectedCount `json:"rejected"`
	Warnings    []WarningCount  `json:"warnings"`
}

// Month is one row of mrr_monthly. A ratio the table holds as NULL is nil.
type Month struct {
	Month          string   `json:"month"`
	MRRStart       int64    `json:"mrr_start"`
	New            int64    `json:"new"`
	Expansion      int64    `json:"expansion"`
	Contraction    int64    `json:"contraction"`
	Churn          int64    `json:"churn"`
	Reactivation   int64    `json:"reactivation"`
	FXImpact       int64    `json:"fx_impact"`
	MRREnd         int64    `json:"mrr_end"`
	ARR            int64    `json:"arr"`
	CustomersStart int64    `json:"customers_start"`
	CustomersEnd   int64    `json:"customers_end"`
	ARPA           *int64   `json:"arpa"`
	NetMRRChurn    *float64 `json:"net_mrr_churn_rate"`
	QuickRatio     *float64 `json:"quick_ratio"`
	LTV            *int64   `json:"ltv"`
	Partial        bool     `json:"is_partial"`
}

// Cohort is one row of cohorts.
type Cohort struct {
	CohortMonth       string   `json:"cohort_month"`
	MonthsSince       int64    `json:"months_since"`
	Customers         int64    `json:"cohort_customers"`
	CohortMRR         int64    `json:"cohort_mrr"`
	Active            int64    `json:"active_customers"`
	MRR               int64    `json:"mrr"`
	CustomerRetention *float64 `json:"customer_retention"`
	RevenueRetention  *float64 `json:"revenue_retention"`
}

// Mover is one of the largest movements of the last month, with the
// invoices that caused it.
type Mover struct {
	Date       string   `json:"date"`
	Source     string   `json:"source"`
	CustomerID string   `json:"customer_id"`
	Movement   string   `json:"movement"`
	Amount     int64    `json:"amount"`
	Currency   string   `json:"currency"`
	Original   int64    `json:"amount_original"`
	InvoiceIDs []string `json:"invoice_ids"`
}

// RejectedCount counts the rejected rows of a source, entity and reason.
type RejectedCount struct {
	Source string `json:"source"`
	Entity string `json:"entity"`
	Reason string `json:"reason"`
	Rows   int    `json:"rows"`
	// Example is one rejected row's origin.
	Example string `json:"example"`
}

// WarningCount counts the data-quality rows of a source and check.
type WarningCount struct {
	Source string `json:"source"`
	Check  string `json:"check"`
	Rows   int    `json:"rows"`
}

// Options choose what the report shows.
type Options struct {
	// From and To bound the months shown (YYYY-MM, inclusive); empty is
	// all.
	From, To string
	// Movers is how many of the last month's movements are listed; 0 is 10.
	Movers int
	// CurrencyDisplay is symbol (the default: $1,234.56) or code (USD
	// 1,234.56).
	CurrencyDisplay string
}

const null = "\x00NULL"

// Read reads a report's data from the published tables of a warehouse.
func Read(ctx context.Context, w *store.Warehouse, opt Options) (*Data, error) {
	if opt.Movers <= 0 {
		opt.Movers = 10
	}
	d := &Data{Warehouse: w.Dir, CurrencyDisplay: cmp.Or(opt.CurrencyDisplay, "symbol")}
	rows, err := load.ReadText(ctx, w, schemas.MRRMonthly, []string{"month", "mrr_start", "new", "expansion", "contraction", "churn",
		"reactivation", "fx_impact", "mrr_end", "arr", "customers_start", "customers_end", "arpa", "net_mrr_churn_rate", "quick_ratio",
		"ltv", "is_partial", "currency"}, null)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("the warehouse %s has no mrr_monthly rows: run mrrflow run first", w.Dir)
	}
	p := &parser{}
	for _, r := range rows {
		m := Month{Month: r[0][:7], MRRStart: p.int(r[1]), New: p.int(r[2]), Expansion: p.int(r[3]), Contraction: p.int(r[4]),
			Churn: p.int(r[5]), Reactivation: p.int(r[6]), FXImpact: p.int(r[7]), MRREnd: p.int(r[8]), ARR: p.int(r[9]),
			CustomersStart: p.int(r[10]), CustomersEnd: p.int(r[11]), ARPA: p.intOrNull(r[12]), NetMRRChurn: p.floatOrNull(r[13]),
			QuickRatio: p.floatOrNull(r[14]), LTV: p.intOrNull(r[15]), Partial: r[16] == "true"}
		if (opt.From == "" || m.Month >= opt.From) && (opt.To == "" || m.Month <= opt.To) {
			d.Months = append(d.Months, m)
		}
		d.Currency = r[17]
	}
	if p.err != nil {
		return nil, fmt.Errorf("read mrr_monthly: %w", p.err)
	}
	if len(d.Months) == 0 {
		return nil, fmt.Errorf("no month of mrr_monthly lies between %q and %q", opt.From, opt.To)
	}
	slices.SortFunc(d.Months, func(a, b Month) int { return cmp.Compare(a.Month, b.Month) })
	d.Digits = schemas.MinorDigits(d.Currency)
	last := d.Months[len(d.Months)-1]
	d.MoversMonth = last.Month
	if err := d.readCohorts(ctx, w, p); err != nil {
		return nil, err
	}
	if err := d.readMovers(ctx, w, p, opt.Movers); err != nil {
		return nil, err
	}
	if err := d.readQuality(ctx, w); err != nil {
		return nil, err
	}
	return d, p.err
}

func (d *Data) readCohorts(ctx context.Context, w *store.Warehouse, p *parser) error {
	rows, err := load.ReadText(ctx, w, schemas.Cohorts, []string{"cohort_month", "months_since", "month", "cohort_customers", "cohort_mrr",
		"active_customers", "mrr", "customer_retention", "revenue_retention"}, null)
	if err != nil {
		return err
	}
	first, last := d.Months[0].Month, d.Months[len(d.Months)-1].Month
	for _, r := range rows {
		if r[0][:7] < first || r[2][:7] > last {
			continue
		}
		d.Cohorts = append(d.Cohorts, Cohort{CohortMonth: r[0][:7], MonthsSince: p.int(r[1]), Customers: p.int(r[3]), CohortMRR: p.int(r[4]),
			Active: p.int(r[5]), MRR: p.int(r[6]), CustomerRetention: p.floatOrNull(r[7]), RevenueRetention: p.floatOrNull(r[8])})
	}
	slices.SortFunc(d.Cohorts, func(a, b Cohort) int {
		return cmp.Or(cmp.Compare(a.CohortMonth, b.CohortMonth), cmp.Compare(a.MonthsSince, b.MonthsSince))
	})
	return nil
}

// readMovers keeps the largest movements of the last month shown.
func (d *Data) readMovers(ctx context.Context, w *store.Warehouse, p *parser, n int) error {
	rows, err := load.ReadText(ctx, w, schemas.MRRMovements, []string{"date", "source", "customer_id", "movement", "amount", "currency",
		"amount_original", "invoice_ids"}, null)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r[0][:7] != d.MoversMonth {
			continue
		}
		d.Movers = append(d.Movers, Mover{Date: r[0], Source: r[1], CustomerID: r[2], Movement: r[3], Amount: p.int(r[4]),
			Currency: r[5], Original: p.int(r[6]), InvoiceIDs: p.list(r[7])})
	}
	slices.SortFunc(d.Movers, func(a, b Mover) int {
		return cmp.Or(cmp.Compare(b.Amount, a.Amount), cmp.Compare(a.Date, b.Date), cmp.Compare(a.Source, b.Source), cmp.Compare(a.CustomerID, b.CustomerID))
	})
	d.Movers = d.Movers[:min(n, len(d.Movers))]
	return nil
}

func (d *Data) readQuality(ctx context.Context, w *store.Warehouse) error {
	rows, err := load.ReadText(ctx, w, schemas.RejectedRows, []string{"source", "entity", "error", "origin"}, "")
	if err != nil {
		return err
	}
	byReason := map[[3]string]*RejectedCount{}
	for _, r := range rows {
		k := [3]string{r[0], r[1], r[2]}
		if byReason[k] == nil {
			byReason[k] = &RejectedCount{Source: r[0], Entity: r[1], Reason: r[2], Example: r[3]}
		}
		byReason[k].Rows++
	}
	for _, c := range byReason {
		d.Rejected = append(d.Rejected, *c)
	}
	slices.SortFunc(d.Rejected, func(a, b RejectedCount) int {
		return cmp.Or(cmp.Compare(b.Rows, a.Rows), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Entity, b.Entity), cmp.Compare(a.Reason, b.Reason))
	})
	rows, err = load.ReadText(ctx, w, schemas.DataQuality, []string{"source", "check"}, "")
	if err != nil {
		return err
	}
	byCheck := map[[2]string]int{}
	for _, r := range rows {
		byCheck[[2]string{r[0], r[1]}]++
	}
	for k, n := range byCheck {
		d.Warnings = append(d.Warnings, WarningCount{Source: k[0], Check: k[1], Rows: n})
	}
	slices.SortFunc(d.Warnings, func(a, b WarningCount) int {
		return cmp.Or(cmp.Compare(b.Rows, a.Rows), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Check, b.Check))
	})
	return nil
}

// parser reads the tables' text back into numbers, keeping the first
// error.
type parser struct{ err error }

func (p *parser) int(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%q is not an integer", s)
	}
	return n
}

func (p *parser) intOrNull(s string) *int64 {
	if s == null {
		return nil
	}
	n := p.int(s)
	return &n
}

func (p *parser) floatOrNull(s string) *float64 {
	if s == null {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%q is not a number", s)
	}
	return &f
}

// list reads a LIST<STRING> as FormatValue writes it (a JSON array).
func (p *parser) list(s string) []string {
	var out []string
	if s == null || s == "" {
		return out
	}
	if err := jsonUnmarshal(s, &out); err != nil && p.err == nil {
		p.err = err
	}
	return out
}
