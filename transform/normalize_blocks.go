package transform

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/schemas"
)

// addBlocks reads a source block by block on several goroutines: each
// block's records are converted and checked by a normalizer of its own,
// and the blocks are then absorbed in the source's order, so that the
// result is the one a sequential read gives.
func (n *normalizer) addBlocks(ctx context.Context, bx extract.BlockExtractor, workers int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		seq   int
		block extract.Block
	}
	type done struct {
		seq  int
		part *normalizer
	}
	jobs := make(chan job, workers)
	results := make(chan done, workers)
	// A block holds a slot from when it is cut until it is absorbed: a
	// slow block holds the others back, and memory stays bounded.
	slots := make(chan struct{}, 3*workers)
	var readErr error
	go func() {
		defer close(jobs)
		seq := 0
		readErr = bx.ExtractBlocks(ctx, func(b extract.Block) error {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- job{seq, b}:
				seq++
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var wg sync.WaitGroup
	var blockErr error
	var once sync.Once
	for range workers {
		wg.Go(func() {
			hint := 0 // lines in this worker's last block: most blocks are alike
			for j := range jobs {
				part := newNormalizer(n.runID)
				part.major = n.major
				part.lines = make([]pendingLine, 0, hint+hint/8)
				// add never fails; a block does when its file is broken.
				if err := j.block.Each(part.add); err != nil {
					once.Do(func() { blockErr = err })
					cancel()
				}
				hint = len(part.lines)
				select {
				case results <- done{j.seq, part}:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	// Blocks finish out of order; fewer than the slots wait here.
	waiting := map[int]*normalizer{}
	next := 0
	var flushErr error
	for d := range results {
		waiting[d.seq] = d.part
		for p, ok := waiting[next]; ok; p, ok = waiting[next] {
			delete(waiting, next)
			n.absorb(p)
			if n.flush != nil && flushErr == nil {
				if flushErr = n.flush(false); flushErr != nil {
					cancel()
				}
			}
			<-slots
			next++
		}
	}
	if blockErr != nil {
		return blockErr
	}
	if flushErr != nil {
		return flushErr
	}
	if readErr != nil {
		return readErr
	}
	return ctx.Err()
}

// absorb appends what another normalizer read after what n read: its
// records, and their refs moved past n's.
func (n *normalizer) absorb(p *normalizer) {
	off := n.ledger.absorb(&p.ledger)
	move := func(r ref) ref {
		if r == noRef {
			return r
		}
		return r + off
	}
	for e, c := range p.res.Read {
		n.res.Read[e] += c
	}
	if free := cap(n.customers) - len(n.customers); free < len(p.customers) {
		// Doubling: append would grow a large slice by a quarter at a time.
		n.customers = slices.Grow(n.customers, max(len(p.customers), len(n.customers)))
		n.customerRefs = slices.Grow(n.customerRefs, max(len(p.customers), len(n.customers)))
	}
	for i, c := range p.customers {
		if _, company := p.customerAt[c.CustomerID]; company {
			n.addCompany(c)
		} else {
			n.customers = append(n.customers, c)
			n.customerRefs = append(n.customerRefs, move(p.customerRefs[i]))
		}
	}
	n.plans = append(n.plans, p.plans...)
	for _, r := range p.planRefs {
		n.planRefs = append(n.planRefs, move(r))
	}
	for i := range p.lines {
		p.lines[i].ref = move(p.lines[i].ref)
	}
	n.lineParts = append(n.lineParts, p.lines)
	for _, it := range p.items {
		it.ref = move(it.ref)
		n.items = append(n.items, it)
	}
	n.transactions = append(n.transactions, p.transactions...)
	for _, r := range p.txRefs {
		n.txRefs = append(n.txRefs, move(r))
	}
	for _, ev := range p.events {
		ev.ref = move(ev.ref)
		n.events = append(n.events, ev)
	}
	n.contacts = append(n.contacts, p.contacts...)
	for _, r := range p.contactRefs {
		n.contactRefs = append(n.contactRefs, move(r))
	}
	for id, h := range p.headers {
		h.ref = move(h.ref)
		if old, ok := n.headers[id]; ok {
			n.supersede(schemas.EntityInvoice, id, old.origin, h.origin, old.ref)
		}
		n.headers[id] = h
	}
	maps.Copy(n.planUUID, p.planUUID)
	maps.Copy(n.subCustomer, p.subCustomer)
	n.res.Warnings = append(n.res.Warnings, p.res.Warnings...)
	// The rows the part rejected: its ledger, moved here, already says so.
	for _, r := range p.res.Rejected {
		n.rejectID(noRef, r.Source, r.Entity, r.RecordID, r.Origin, r.Error, r.Raw)
	}
	for _, s := range p.res.Superseded {
		if len(n.res.Superseded) < maxNamed {
			n.res.Superseded = append(n.res.Superseded, s)
		}
	}
}
