package schemas

import (
	"math"
	"time"
)

// Times in records are microseconds since the Unix epoch, UTC, as stored in
// the TIMESTAMP columns. NoTime marks a missing (NULL) time.
const NoTime int64 = math.MinInt64

// Micros converts a time to the records' representation.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// TimeOf converts the records' representation back to a time in UTC.
func TimeOf(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Entity names a kind of record, as in rejected_rows.entity.
type Entity string

// The entities of docs/RULES.md §1 and DESIGN.md.
const (
	EntityCustomer          Entity = "customer"
	EntityPlan              Entity = "plan"
	EntityInvoice           Entity = "invoice"
	EntityLineItem          Entity = "line_item"
	EntityTransaction       Entity = "transaction"
	EntitySubscription      Entity = "subscription"
	EntitySubscriptionEvent Entity = "subscription_event"
	EntityContact           Entity = "contact"
)

// Line kinds.
const (
	KindSubscription = "subscription"
	KindOneTime      = "one_time"
	KindRefund       = "refund"
	KindCancellation = "cancellation"
)

// Customer is a canonical customer record.
type Customer struct {
	Source         string
	CustomerID     string
	Name           string
	Email          string
	Country        string
	State          string
	CreatedAt      int64
	TrialStartedAt int64
	Domain         string
	Attributes     string // JSON object of strings, "{}" when empty
	Origin         string
}

// Plan is a canonical plan record.
type Plan struct {
	Source        string
	PlanID        string
	Name          string
	IntervalUnit  string
	IntervalCount int64
	Currency      string
	Origin        string
}

// InvoiceLine is a canonical invoice line record.
type InvoiceLine struct {
	Source         string
	InvoiceID      string
	LineID         string
	CustomerID     string
	SubscriptionID string
	PlanID         string
	Kind           string
	InvoiceDate    int64
	PeriodStart    int64
	PeriodEnd      int64
	Amount         int64
	Tax            int64
	Discount       int64
	Quantity       int64
	Prorated       bool
	PaidAt         int64
	Currency       string
	Origin         string
}

// Rejected is one row of rejected_rows.
type Rejected struct {
	RunID    string
	Source   string
	Entity   Entity
	RecordID string
	Origin   string
	Error    string
	Raw      string
}

// Transaction is a canonical transaction record.
type Transaction struct {
	Source        string
	TransactionID string
	InvoiceID     string
	Type          string // payment, refund
	Result        string // successful, failed
	Date          int64
	Origin        string
	// Amount is the part of the invoice paid or refunded, in minor units;
	// NoAmount for the whole invoice.
	Amount int64
}

// NoAmount marks an amount not given (NULL).
const NoAmount int64 = math.MinInt64

// Event types.
const (
	EventStart  = "start"
	EventUpdate = "update"
	EventCancel = "cancel"
)

// SubscriptionEvent is a canonical subscription event record.
type SubscriptionEvent struct {
	Source         string
	EventID        string
	CustomerID     string
	SubscriptionID string
	PlanID         string
	Type           string
	EffectiveAt    int64
	Amount         int64
	IntervalUnit   string
	IntervalCount  int64
	Currency       string
	Quantity       int64
	Origin         string
	// Disabled is an event the sender disabled (ChartMogul's "disabled"):
	// kept, and left out of the metrics.
	Disabled bool
}

// Contact is a canonical contact record.
type Contact struct {
	Source      string
	Email       string
	FirstName   string
	LastName    string
	Phone       string
	JobTitle    string
	Country     string
	ContactType string
	Origin      string
}
