package schemas

import "strconv"

// Money columns hold INT64 minor units (cents for USD, yen for JPY).
const (
	docMoney       = " In minor units of the reporting currency (cents for USD)."
	docSource      = "The name the config gives the source the record came from."
	docCustomerID  = "The customer's id in its source."
	docOrigin      = "Where the record came from: file:line, or table and key."
	docMonth       = "The month, as its first day."
	docRateNullDen = " NULL when the denominator is 0."
)

// Customers is the normalized customers table (docs/RULES.md §1).
var Customers = newTable(Table{
	Name:      "customers",
	Doc:       "Customers as their sources sent them, validated; one row per (source, customer_id).",
	ClusterBy: []string{"customer_id"},
	Columns: []Column{
		col("source", typeString, docSource),
		col("customer_id", typeString, docCustomerID),
		col("name", typeString, "Customer or company name."),
		col("email", typeString, "Billing email, empty when unknown."),
		col("country", typeString, "ISO 3166 alpha-2 country code, lower case; empty when unknown."),
		col("state", typeString, "State or region code, lower case; empty when unknown."),
		nullable("created_at", typeTimestamp, "When the customer first appeared in the source."),
		nullable("trial_started_at", typeTimestamp, "When the customer's free trial started, if any."),
		col("domain", typeString, "Company domain, empty when unknown."),
		col("attributes", typeString, "Other attributes (custom variables, metadata, company, city) as a JSON object of strings."),
		col("origin", typeString, docOrigin),
	},
})

// Plans is the normalized plans table.
var Plans = newTable(Table{
	Name: "plans",
	Doc:  "Plans as their sources sent them, validated; one row per (source, plan_id).",
	Columns: []Column{
		col("source", typeString, docSource),
		col("plan_id", typeString, "The plan's id in its source."),
		col("name", typeString, "Display name."),
		col("interval_unit", typeString, "Billing interval unit: day, week, month or year."),
		col("interval_count", typeInt64, "Number of interval units per billing period (12 with month is annual)."),
		col("currency", typeString, "ISO 4217 currency code, lower case."),
		col("origin", typeString, docOrigin),
	},
})

// InvoiceLines is the normalized invoice lines table.
var InvoiceLines = newTable(Table{
	Name:      "invoice_lines",
	Doc:       "Invoice lines as their sources sent them, validated; one row per (source, invoice_id, line_id).",
	ClusterBy: []string{"customer_id"},
	Columns: []Column{
		col("source", typeString, docSource),
		col("invoice_id", typeString, "The invoice's id in its source."),
		col("line_id", typeString, "The line's id within its invoice (the invoice id for single-line invoices)."),
		col("customer_id", typeString, docCustomerID),
		col("subscription_id", typeString, "The subscription the line belongs to; empty for the customer's implicit subscription."),
		col("plan_id", typeString, "The plan billed; empty for lines without a plan."),
		col("kind", typeString, "subscription, one_time, refund or cancellation."),
		col("invoice_date", typeTimestamp, "When the invoice was issued."),
		col("period_start", typeTimestamp, "Start of the service period (defaults to the invoice date)."),
		col("period_end", typeTimestamp, "End of the service period, exclusive (defaults to one plan interval after its start)."),
		col("amount", typeInt64, "Amount in minor units of the line's currency, after discounts, tax included; a refund's amount is its magnitude."),
		col("tax", typeInt64, "Tax included in amount, in minor units."),
		col("discount", typeInt64, "Discount granted, in minor units (informational)."),
		col("quantity", typeInt64, "Seats or units (informational: amount already includes it)."),
		col("prorated", typeBool, "True for a mid-cycle partial-period charge or credit."),
		nullable("paid_at", typeTimestamp, "When the invoice was paid; NULL when unpaid."),
		col("currency", typeString, "ISO 4217 currency code, lower case."),
		col("origin", typeString, docOrigin),
	},
})

// SubscriptionEvents is the normalized subscription events table, for
// sources that report subscription state rather than invoices.
var SubscriptionEvents = newTable(Table{
	Name:      "subscription_events",
	Doc:       "Subscription starts, updates and cancellations (docs/RULES.md §3); one row per (source, event_id).",
	ClusterBy: []string{"customer_id"},
	Columns: []Column{
		col("source", typeString, docSource),
		col("event_id", typeString, "The event's id in its source."),
		col("customer_id", typeString, docCustomerID),
		col("subscription_id", typeString, "The subscription the event changes."),
		col("plan_id", typeString, "The plan subscribed to, empty when unknown."),
		col("type", typeString, "start, update or cancel."),
		col("effective_at", typeTimestamp, "When the change takes effect."),
		col("amount", typeInt64, "Amount per plan interval, in minor units of currency, tax taken out (0 while trialing or paused)."),
		col("interval_unit", typeString, "day, week, month or year."),
		col("interval_count", typeInt64, "Interval units per billing period."),
		col("currency", typeString, "ISO 4217 currency code, lower case."),
		col("quantity", typeInt64, "Seats or units (informational: amount already includes it)."),
		col("origin", typeString, docOrigin),
		col("disabled", typeBool, "True for an event its sender disabled: kept, and left out of the metrics."),
	},
})

// Contacts is the normalized contacts table (seed 002), one per email.
var Contacts = newTable(Table{
	Name: "contacts",
	Doc:  "People at customers, upserted by email; one row per (source, email).",
	Columns: []Column{
		col("source", typeString, docSource),
		col("email", typeString, "The contact's email, lower case: the key."),
		col("first_name", typeString, "First name."),
		col("last_name", typeString, "Last name."),
		col("phone", typeString, "Phone number."),
		col("job_title", typeString, "Job title."),
		col("country", typeString, "Country code or name, as sent."),
		col("contact_type", typeString, "Contact type classification, as sent."),
		col("origin", typeString, docOrigin),
	},
})

// Transactions is the normalized transactions table: payments and refunds
// of invoices, which set an invoice's payment state.
var Transactions = newTable(Table{
	Name: "transactions",
	Doc:  "Payment and refund transactions of invoices; one row per (source, transaction_id).",
	Columns: []Column{
		col("source", typeString, docSource),
		col("transaction_id", typeString, "The transaction's id in its source."),
		col("invoice_id", typeString, "The invoice it pays or refunds."),
		col("type", typeString, "payment or refund."),
		col("result", typeString, "successful or failed."),
		col("date", typeTimestamp, "When it happened."),
		col("origin", typeString, docOrigin),
		nullable("amount", typeInt64, "The part of the invoice paid or refunded, in minor units of its currency; NULL for the whole invoice."),
	},
})

// RejectedRows holds every record a run could not accept, with the reason.
var RejectedRows = newTable(Table{
	Name: "rejected_rows",
	Doc:  "Records a run rejected, with the reason; one file per run.",
	Columns: []Column{
		col("run_id", typeString, "The run that rejected the record."),
		col("source", typeString, docSource),
		col("entity", typeString, "customer, plan, invoice, line_item, transaction, subscription, subscription_event or contact."),
		col("record_id", typeString, "The record's id, empty when it had none."),
		col("origin", typeString, docOrigin),
		col("error", typeString, "Why the record was rejected, naming the field."),
		col("raw", typeString, "The record as received (JSON)."),
	},
})

// DataQuality lists records that were kept but look suspicious.
var DataQuality = newTable(Table{
	Name: "data_quality",
	Doc:  "Warnings about records that were kept but look suspicious (docs/RULES.md §2, §4).",
	Columns: []Column{
		col("source", typeString, docSource),
		col("customer_id", typeString, docCustomerID),
		col("record_id", typeString, "The invoice (and line) the warning is about, if any."),
		nullable("date", typeDate, "The day the warning is about, if any."),
		col("check", typeString, "The check that fired: period_mismatch, negative_mrr."),
		col("detail", typeString, "What was seen."),
	},
})

// CustomerMRRPeriods is the daily MRR of each customer, compressed to runs.
var CustomerMRRPeriods = newTable(Table{
	Name:        "customer_mrr_periods",
	Doc:         "The daily MRR of each customer, compressed to runs of equal value.",
	PartitionBy: "valid_from",
	ClusterBy:   []string{"customer_id"},
	Columns: []Column{
		col("source", typeString, docSource),
		col("customer_id", typeString, docCustomerID),
		col("currency", typeString, "The currency of mrr (the customer's own)."),
		col("valid_from", typeDate, "First day of the run."),
		nullable("valid_to", typeDate, "Day after the last day of the run (exclusive); NULL while current."),
		col("mrr", typeInt64, "The customer's MRR on each day of the run, in minor units of currency."),
	},
})

// MRRMovements lists every change of a customer's MRR.
var MRRMovements = newTable(Table{
	Name:        "mrr_movements",
	Doc:         "Every change of a customer's MRR: new, expansion, contraction, churn, reactivation.",
	PartitionBy: "date",
	ClusterBy:   []string{"customer_id"},
	Columns: []Column{
		col("date", typeDate, "The day the MRR changed (the MRR of a day is the MRR at its end)."),
		col("source", typeString, docSource),
		col("customer_id", typeString, docCustomerID),
		col("movement", typeString, "new, expansion, contraction, churn or reactivation."),
		col("amount", typeInt64, "Size of the movement, always > 0."+docMoney),
		col("mrr_delta", typeInt64, "Signed change of MRR."+docMoney),
		col("mrr_before", typeInt64, "The customer's MRR just before."+docMoney),
		col("mrr_after", typeInt64, "The customer's MRR after: mrr_before + mrr_delta."+docMoney),
		col("currency", typeString, "The customer's own currency for amount_original."),
		col("amount_original", typeInt64, "Size of the movement in minor units of currency."),
		col("plan_id", typeString, "The plan holding most MRR after the movement (before it, for churn; ties: the smaller plan_id)."),
		col("invoice_ids", typeStringList, "The invoices (invoice_id, or invoice_id/line_id) whose lines caused the movement."),
	},
})

// MRRMonthly holds the monthly figures of docs/RULES.md §5.
var MRRMonthly = newTable(Table{
	Name:        "mrr_monthly",
	Doc:         "Monthly MRR figures (docs/RULES.md §5); the month of as_of is partial.",
	PartitionBy: "month",
	Columns: []Column{
		col("month", typeDate, docMonth),
		col("mrr_start", typeInt64, "MRR at the end of the previous month."+docMoney),
		col("new", typeInt64, "Sum of new movements."+docMoney),
		col("expansion", typeInt64, "Sum of expansion movements."+docMoney),
		col("contraction", typeInt64, "Sum of contraction movements."+docMoney),
		col("churn", typeInt64, "Sum of churn movements."+docMoney),
		col("reactivation", typeInt64, "Sum of reactivation movements."+docMoney),
		col("fx_impact", typeInt64, "Change of value of unchanged MRR through exchange rates."+docMoney),
		col("mrr_end", typeInt64, "MRR at the end of the month (or at as_of)."+docMoney),
		col("arr", typeInt64, "12 x mrr_end."+docMoney),
		col("customers_start", typeInt64, "Customers with MRR > 0 at the end of the previous month."),
		col("customers_end", typeInt64, "Customers with MRR > 0 at the end of the month."),
		col("new_customers", typeInt64, "Distinct customers with a new movement in the month."),
		col("reactivated_customers", typeInt64, "Distinct customers with a reactivation movement in the month."),
		col("churned_customers", typeInt64, "Distinct customers with a churn movement in the month."),
		nullable("arpa", typeInt64, "mrr_end / customers_end, rounded."+docMoney+docRateNullDen),
		nullable("customer_churn_rate", typeFloat64, "Churned customers active at the start / customers_start."+docRateNullDen),
		nullable("gross_mrr_churn_rate", typeFloat64, "(churn + contraction) / mrr_start."+docRateNullDen),
		nullable("net_mrr_churn_rate", typeFloat64, "(churn + contraction - expansion - reactivation) / mrr_start; negative is net expansion."+docRateNullDen),
		nullable("quick_ratio", typeFloat64, "(new + expansion + reactivation) / (churn + contraction)."+docRateNullDen),
		nullable("ltv", typeInt64, "arpa / customer_churn_rate, rounded."+docMoney+docRateNullDen),
		col("subscription_billed", typeInt64, "Subscription lines billed, by invoice date."+docMoney),
		col("one_time_billed", typeInt64, "One-time lines billed, by invoice date."+docMoney),
		col("refunded", typeInt64, "Refunds, by invoice date."+docMoney),
		col("is_partial", typeBool, "True for the month of as_of."),
		col("currency", typeString, "The reporting currency."),
	},
})

// Cohorts holds retention by the month of each customer's first new movement.
var Cohorts = newTable(Table{
	Name:        "cohorts",
	Doc:         "Customer and revenue retention by cohort (docs/RULES.md §6).",
	PartitionBy: "cohort_month",
	Columns: []Column{
		col("cohort_month", typeDate, "Month of the customers' first new movement, as its first day."),
		col("months_since", typeInt64, "Months after the cohort month (0 is the cohort month)."),
		col("month", typeDate, "The calendar month cohort_month + months_since, as its first day."),
		col("cohort_customers", typeInt64, "Customers in the cohort."),
		col("cohort_mrr", typeInt64, "Sum of the cohort's first new movements."+docMoney),
		col("active_customers", typeInt64, "Cohort customers with MRR > 0 at the end of the month (or at as_of)."),
		col("mrr", typeInt64, "The cohort's MRR at the end of the month (or at as_of)."+docMoney),
		nullable("customer_retention", typeFloat64, "active_customers / cohort_customers."+docRateNullDen),
		nullable("revenue_retention", typeFloat64, "mrr / cohort_mrr."+docRateNullDen),
	},
})

// CustomerSnapshot is each customer's state at as_of.
var CustomerSnapshot = newTable(Table{
	Name:      "customer_snapshot",
	Doc:       "Each customer's state at as_of.",
	ClusterBy: []string{"customer_id"},
	Columns: []Column{
		col("source", typeString, docSource),
		col("customer_id", typeString, docCustomerID),
		col("name", typeString, "Customer or company name."),
		col("country", typeString, "ISO 3166 alpha-2 country code, lower case."),
		col("status", typeString, "active, churned, trialing or lead."),
		col("mrr", typeInt64, "MRR at as_of."+docMoney),
		nullable("first_paid_date", typeDate, "First day with MRR > 0."),
		nullable("cohort_month", typeDate, "Month of the first new movement."),
		nullable("last_movement_date", typeDate, "Day of the latest movement."),
		col("lifetime_billed", typeInt64, "Subscription and one-time lines billed, less refunds, up to as_of."+docMoney),
	},
})

// Normalized lists the normalized input tables; Marts the computed ones.
var (
	Normalized = []*Table{Customers, Plans, InvoiceLines, Transactions, SubscriptionEvents, Contacts}
	Marts      = []*Table{CustomerMRRPeriods, MRRMovements, MRRMonthly, Cohorts, CustomerSnapshot, DataQuality}
)

// All lists every table mrrflow writes.
func All() []*Table {
	out := append([]*Table{}, Normalized...)
	out = append(out, RejectedRows)
	return append(out, Marts...)
}

// Lookup returns the table of that name, or nil.
func Lookup(name string) *Table {
	for _, t := range All() {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// NormalizedPath is the warehouse-relative first file of one source's
// normalized table; a large table goes on in part-1, part-2, ...
func NormalizedPath(t *Table, source string) string { return NormalizedPart(t, source, 0) }

// NormalizedPart is the warehouse-relative file of part k of one source's
// normalized table.
func NormalizedPart(t *Table, source string, k int) string {
	return "normalized/" + t.Name + "/source=" + source + "/part-" + strconv.Itoa(k) + ".parquet"
}
