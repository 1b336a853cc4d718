package metrics

import "github.com/mrrflow/mrrflow/configs"

// policy is a source's policies (docs/RULES.md §7) in the engine's terms.
type policy struct {
	grace          int64 // µs
	immediate      bool  // cancellations end MRR at once
	refundsReduce  bool  // refunds reduce MRR (else cash flow only)
	requirePayment bool
	window         int32 // reactivation window in days; 0 is unlimited
}

func compilePolicy(p configs.Policies) *policy {
	return &policy{
		grace:          int64(p.ChurnGraceDays) * usPerDay,
		immediate:      p.Cancellation == configs.CancelImmediate,
		refundsReduce:  p.Refunds == configs.RefundReduceMRR,
		requirePayment: p.RequirePayment,
		window:         int32(p.ReactivationWindowDays),
	}
}

// policyOf is the policy of a source: its own when Options.SourcePolicies
// has one, else the run's.
func (e *engine) policyOf(source string) *policy {
	if p, ok := e.policies[source]; ok {
		return p
	}
	return e.policy
}
