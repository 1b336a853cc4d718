package transform

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mrrflow/mrrflow/schemas"
)

// Every record read is accounted for: each ends accepted (inserted,
// updated or unchanged against the source's stored state), rejected (with
// a row in rejected_rows), or superseded by a later record of the same id
// in the same delivery. Records made from one read record (a subscription
// row's events, a line item's cancellation) settle the record they came
// from; a rejection outweighs an acceptance. A record left unsettled is a
// defect of mrrflow, and fails the run.

// Account is what became of one entity's records in one delivery:
// Read = Inserted + Updated + Unchanged + Rejected + Superseded.
type Account struct {
	Read       int `json:"read"`
	Inserted   int `json:"inserted"`
	Updated    int `json:"updated"`
	Unchanged  int `json:"unchanged"`
	Rejected   int `json:"rejected"`
	Superseded int `json:"superseded"`
}

// TableChange is what a delivery did to one normalized table of its
// source: how many rows were stored before, are kept after, and are gone
// (the records a replace delivery no longer has, or the lines of an
// invoice sent again without them).
type TableChange struct {
	Before  int `json:"before"`
	After   int `json:"after"`
	Removed int `json:"removed"`
}

// Add is the sum of two accounts.
func (a Account) Add(b Account) Account {
	return Account{Read: a.Read + b.Read, Inserted: a.Inserted + b.Inserted, Updated: a.Updated + b.Updated,
		Unchanged: a.Unchanged + b.Unchanged, Rejected: a.Rejected + b.Rejected, Superseded: a.Superseded + b.Superseded}
}

// Accepted is the records kept: inserted, updated or unchanged.
func (a Account) Accepted() int { return a.Inserted + a.Updated + a.Unchanged }

// Balanced says whether every record read is accounted for once.
func (a Account) Balanced() bool { return a.Read == a.Accepted()+a.Rejected+a.Superseded }

func (a Account) String() string {
	return fmt.Sprintf("%d read = %d inserted + %d updated + %d unchanged + %d rejected + %d superseded",
		a.Read, a.Inserted, a.Updated, a.Unchanged, a.Rejected, a.Superseded)
}

// Superseded is a record replaced by a later one of the same id in the
// same delivery: the last by file order and position wins.
type Superseded struct {
	Entity schemas.Entity `json:"entity"`
	ID     string         `json:"record_id"`
	Origin string         `json:"origin"`
	By     string         `json:"superseded_by"`
}

// outcome is what became of one record read.
type outcome uint8

const (
	unsettled outcome = iota
	inserted
	updated
	unchanged
	rejected
	superseded
)

// ref names a record read: its place in the normalizer's ledger.
type ref int32

// noRef marks a record made by mrrflow, not read (none is).
const noRef ref = -1

// ledger holds each record read's entity and outcome, in read order: two
// bytes a record, for the tens of millions of lines of a history.
type ledger struct {
	entity  []uint8 // a code of entities
	outcome []outcome
}

// entities are the entities a ledger codes; entityCode their codes.
var (
	entities = []schemas.Entity{schemas.EntityCustomer, schemas.EntityPlan, schemas.EntityInvoice, schemas.EntityLineItem,
		schemas.EntityTransaction, schemas.EntitySubscription, schemas.EntitySubscriptionEvent, schemas.EntityContact}
	entityCode = func() map[schemas.Entity]uint8 {
		m := map[schemas.Entity]uint8{}
		for i, e := range entities {
			m[e] = uint8(i)
		}
		return m
	}()
)

// open enters a record read and returns its ref.
func (l *ledger) open(e schemas.Entity) ref {
	code, ok := entityCode[e]
	if !ok {
		code = uint8(len(entities)) // not an entity: left unsettled, it fails the run
	}
	l.entity = append(l.entity, code)
	l.outcome = append(l.outcome, unsettled)
	return ref(len(l.entity) - 1)
}

// entity is the entity of a code.
func entityOfCode(c uint8) schemas.Entity {
	if int(c) < len(entities) {
		return entities[c]
	}
	return "unknown"
}

// settle records what became of a record; a rejection stands against any
// later outcome, and outweighs an earlier acceptance.
func (l *ledger) settle(r ref, o outcome) {
	if r == noRef {
		return
	}
	switch cur := l.outcome[r]; {
	case cur == rejected, cur == superseded && o != rejected:
	case cur == unsettled, o == rejected:
		l.outcome[r] = o
	case o == inserted || o == updated:
		// One record made several (a row's events): a change in any is a
		// change of the record.
		if cur == unchanged || o == inserted {
			l.outcome[r] = o
		}
	}
}

// entityOf is the entity a record was read as; or, for one not read, def.
func (l *ledger) entityOf(r ref, def schemas.Entity) schemas.Entity {
	if r == noRef {
		return def
	}
	return entityOfCode(l.entity[r])
}

// absorb appends another ledger's records, and returns the offset their
// refs take in this one.
func (l *ledger) absorb(o *ledger) ref {
	off := ref(len(l.entity))
	l.entity = append(l.entity, o.entity...)
	l.outcome = append(l.outcome, o.outcome...)
	return off
}

// accounts counts the outcomes by entity, and fails naming the first
// records left unsettled.
func (l *ledger) accounts() (map[schemas.Entity]Account, error) {
	out := map[schemas.Entity]Account{}
	var loose []string
	for i, code := range l.entity {
		e := entityOfCode(code)
		a := out[e]
		a.Read++
		switch l.outcome[i] {
		case inserted:
			a.Inserted++
		case updated:
			a.Updated++
		case unchanged:
			a.Unchanged++
		case rejected:
			a.Rejected++
		case superseded:
			a.Superseded++
		default:
			if len(loose) < 5 {
				loose = append(loose, fmt.Sprintf("%s number %d of the delivery", e, i+1))
			}
		}
		out[e] = a
	}
	if len(loose) > 0 {
		return out, fmt.Errorf("records neither accepted nor rejected (a defect of mrrflow; please report it): %s", strings.Join(loose, "; "))
	}
	for _, e := range slices.Sorted(maps.Keys(out)) {
		if a := out[e]; !a.Balanced() {
			return out, fmt.Errorf("%s records do not add up: %s", e, a)
		}
	}
	return out, nil
}

// compared says how an accepted record stands against the stored one of
// its id.
func compared[T any](prior *T, found bool, incoming *T, same func(a, b *T) bool) outcome {
	switch {
	case !found:
		return inserted
	case same(prior, incoming):
		return unchanged
	}
	return updated
}

// maxNamed is the most superseded records a result names; all are counted.
const maxNamed = 100

func (n *normalizer) supersede(e schemas.Entity, id, origin, by string, r ref) {
	n.ledger.settle(r, superseded)
	if len(n.res.Superseded) < maxNamed {
		// Copies: the record's strings may point into a buffer that goes.
		n.res.Superseded = append(n.res.Superseded, Superseded{Entity: e, ID: strings.Clone(id), Origin: strings.Clone(origin), By: strings.Clone(by)})
	}
}
