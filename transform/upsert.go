package transform

import (
	"cmp"
	"runtime"
	"slices"
	"sync"

	"github.com/mrrflow/mrrflow/schemas"
)

// upsert replaces prior records by id with the incoming ones (the last of
// several with one id wins) and returns all, sorted by id. It sorts
// indexes, not the (large) records. Incoming records already in id order,
// with nothing before them, are returned as they are.
func upsert[T any](prior, incoming []T, id func(*T) string) []T {
	if len(prior) == 0 && increasing(incoming, id) {
		return incoming
	}
	byID := make(map[string]int, len(prior)+len(incoming))
	all := make([]*T, 0, len(prior)+len(incoming))
	for _, set := range [][]T{prior, incoming} {
		for i := range set {
			k := id(&set[i])
			if j, ok := byID[k]; ok {
				all[j] = &set[i]
				continue
			}
			byID[k] = len(all)
			all = append(all, &set[i])
		}
	}
	slices.SortFunc(all, func(a, b *T) int { return cmp.Compare(id(a), id(b)) })
	out := make([]T, len(all))
	for i, p := range all {
		out[i] = *p
	}
	return out
}

// increasing reports whether the ids of items strictly increase.
func increasing[T any](items []T, id func(*T) string) bool {
	for i := 1; i < len(items); i++ {
		if id(&items[i-1]) >= id(&items[i]) {
			return false
		}
	}
	return true
}

// upsertLines replaces every line of an invoice that arrives again, and
// returns the lines sorted by invoice and line id. prior has one line per
// id (an earlier result), and is usually so sorted already; fresh is
// sorted, one line per id (lastOfEach). The lines are not copied: the
// result points at the records of prior and fresh.
func upsertLines(prior, fresh []*schemas.InvoiceLine) []*schemas.InvoiceLine {
	if !slices.IsSortedFunc(prior, byLine) {
		prior = slices.Clone(prior)
		slices.SortFunc(prior, byLine)
	}
	if len(prior) == 0 {
		return fresh
	}
	// Merge with the prior lines, leaving out those of invoices sent again.
	out := make([]*schemas.InvoiceLine, 0, len(prior)+len(fresh))
	i := 0
	for _, l := range fresh {
		for i < len(prior) && prior[i].InvoiceID < l.InvoiceID {
			out = append(out, prior[i])
			i++
		}
		for i < len(prior) && prior[i].InvoiceID == l.InvoiceID {
			i++ // the invoice arrives again: its lines are replaced
		}
		out = append(out, l)
	}
	return append(out, prior[i:]...)
}

// byLine orders lines by invoice id, then line id.
func byLine(a, b *schemas.InvoiceLine) int {
	return cmp.Or(cmp.Compare(a.InvoiceID, b.InvoiceID), cmp.Compare(a.LineID, b.LineID))
}

// lastOfEach sorts lines by id and keeps the last sent of each id (within
// one delivery, a line sent twice: the last by file order and position
// wins, the earlier are superseded). It may return incoming itself.
func (n *normalizer) lastOfEach(incoming []*pendingLine) []*pendingLine {
	// Sorting by id and then by position puts the last of each id last of
	// its run.
	type seqLine struct {
		p   *pendingLine
		seq int
	}
	ordered := true
	for i := 1; i < len(incoming) && ordered; i++ {
		ordered = byLine(&incoming[i-1].line, &incoming[i].line) < 0
	}
	if ordered {
		return incoming // ids strictly increasing: nothing to sort, no line twice
	}
	byID := make([]seqLine, len(incoming))
	for i, p := range incoming {
		byID[i] = seqLine{p, i}
	}
	sortParallel(byID, func(a, b seqLine) int {
		return cmp.Or(byLine(&a.p.line, &b.p.line), cmp.Compare(a.seq, b.seq))
	})
	fresh := make([]*pendingLine, 0, len(byID))
	for i, x := range byID {
		if i+1 < len(byID) && byLine(&byID[i+1].p.line, &x.p.line) == 0 {
			// A later line of the same id follows in the run: the last wins.
			last := i + 1
			for last+1 < len(byID) && byLine(&byID[last+1].p.line, &x.p.line) == 0 {
				last++
			}
			l := &x.p.line
			n.supersede(n.ledger.entityOf(x.p.ref, schemas.EntityInvoice), l.InvoiceID+"/"+l.LineID, l.Origin, byID[last].p.line.Origin, x.p.ref)
			continue
		}
		fresh = append(fresh, x.p)
	}
	return fresh
}

// sortParallel sorts s by a total order: its halves on two goroutines,
// then merged.
func sortParallel[T any](s []T, cmp func(a, b T) int) {
	if len(s) < 1<<16 || runtime.GOMAXPROCS(0) < 2 {
		slices.SortFunc(s, cmp)
		return
	}
	mid := len(s) / 2
	a, b := s[:mid], s[mid:]
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(a, cmp) })
	slices.SortFunc(b, cmp)
	wg.Wait()
	if cmp(a[len(a)-1], b[0]) <= 0 {
		return // already in order, as sorted input comes
	}
	merged := make([]T, 0, len(s))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if cmp(b[j], a[i]) < 0 {
			merged = append(merged, b[j])
			j++
		} else {
			merged = append(merged, a[i])
			i++
		}
	}
	merged = append(append(merged, a[i:]...), b[j:]...)
	copy(s, merged)
}
