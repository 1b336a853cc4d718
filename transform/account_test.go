package transform

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/schemas"
)

// delivery is a random GrowPanel export: good records, bad ones, records
// sent twice (the later one differing), in a shuffled order, split over
// several files of one glob; and what must become of each.
type delivery struct {
	files map[string]string
	// want is, by entity, the account the delivery must give against the
	// state before it (prior ids are those of the previous delivery).
	want map[schemas.Entity]Account
}

// makeDelivery writes n customers and their invoices; prior holds the ids
// (by entity) stored before and their text, so that a record sent again
// unchanged is "unchanged" and a changed one "updated".
func makeDelivery(rng *rand.Rand, n int, prior map[string]string) (delivery, map[string]string) {
	d := delivery{files: map[string]string{}, want: map[schemas.Entity]Account{}}
	next := maps.Clone(prior) // the state accumulates
	done := map[string]bool{}
	var customers, invoices []string
	add := func(e schemas.Entity, key, text string, list *[]string) {
		a := d.want[e]
		a.Read++
		old, stored := prior[key]
		switch {
		case !stored:
			a.Inserted++
		case old == text:
			a.Unchanged++
		default:
			a.Updated++
		}
		d.want[e] = a
		next[key] = text
		*list = append(*list, text)
	}
	bad := func(e schemas.Entity, text string, list *[]string) {
		a := d.want[e]
		a.Read++
		a.Rejected++
		d.want[e] = a
		*list = append(*list, text)
	}
	// dup sends a record that a later one of the same id replaces.
	dup := func(e schemas.Entity, text string, list *[]string) {
		a := d.want[e]
		a.Read++
		a.Superseded++
		d.want[e] = a
		*list = append(*list, text)
	}
	for i := range n {
		id := fmt.Sprintf("c%03d", rng.IntN(3*n)) // ids repeat across deliveries
		if done[id] {
			continue
		}
		done[id] = true
		name := fmt.Sprintf("Customer %s v%d", id, rng.IntN(2))
		if rng.IntN(4) == 0 {
			dup(schemas.EntityCustomer, fmt.Sprintf(`{"id": %q, "name": "an earlier spelling %d"}`, id, i), &customers)
		}
		add(schemas.EntityCustomer, "customer/"+id, fmt.Sprintf(`{"id": %q, "name": %q}`, id, name), &customers)
		for k := range rng.IntN(4) {
			inv := fmt.Sprintf("%s-i%d", id, k)
			amount := 1000 * (1 + rng.IntN(3))
			row := fmt.Sprintf("%s,%s,pro,subscription,2024-0%d-01T00:00:00Z,%d,usd", inv, id, 1+k, amount)
			switch rng.IntN(6) {
			case 0:
				bad(schemas.EntityInvoice, fmt.Sprintf("%s-bad,%s,pro,subscription,2024-01-01T00:00:00Z,12.5,usd", inv, id), &invoices)
			case 1:
				bad(schemas.EntityInvoice, fmt.Sprintf("%s-orphan,nobody,pro,subscription,2024-01-01T00:00:00Z,100,usd", inv), &invoices)
			case 2:
				dup(schemas.EntityInvoice, fmt.Sprintf("%s,%s,pro,subscription,2024-0%d-01T00:00:00Z,%d,usd", inv, id, 1+k, amount+1), &invoices)
			}
			add(schemas.EntityInvoice, "invoice/"+inv, row, &invoices)
		}
	}
	if rng.IntN(2) == 0 {
		bad(schemas.EntityCustomer, `{"id": "no_name"}`, &customers)
	}
	// Shuffle, keeping each superseded record before the one replacing it
	// (file order and position decide): swap only records of other ids.
	shuffleKeepingOrder(rng, customers, func(s string) string { return between(s, `"id": "`, `"`) })
	shuffleKeepingOrder(rng, invoices, func(s string) string { return strings.TrimSuffix(strings.Split(s, ",")[0], "-bad") })
	d.files["plans.json"] = `[{"id": "pro", "name": "Pro", "interval": "month", "currency": "usd"}]`
	cut := len(invoices) / 2
	d.files["customers.ndjson"] = strings.Join(customers, "\n") + "\n"
	d.files["inv_1.csv"] = "id,customer_id,plan_id,type,invoice_date,amount,currency\n" + strings.Join(invoices[:cut], "\n") + "\n"
	d.files["inv_2.csv"] = "id,customer_id,plan_id,type,invoice_date,amount,currency\n" + strings.Join(invoices[cut:], "\n") + "\n"
	pl := d.want[schemas.EntityPlan]
	pl.Read++
	if _, ok := prior["plan/pro"]; ok {
		pl.Unchanged++
	} else {
		pl.Inserted++
	}
	d.want[schemas.EntityPlan] = pl
	next["plan/pro"] = "pro"
	return d, next
}

func between(s, from, to string) string {
	i := strings.Index(s, from) + len(from)
	return s[i : i+strings.Index(s[i:], to)]
}

// shuffleKeepingOrder shuffles items, keeping the order of those of one
// id (file order and position decide which of them wins).
func shuffleKeepingOrder(rng *rand.Rand, items []string, id func(string) string) {
	byID := map[string][]string{}
	for _, s := range items {
		byID[id(s)] = append(byID[id(s)], s)
	}
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	for i, s := range items {
		k := id(s)
		items[i] = byID[k][0]
		byID[k] = byID[k][1:]
	}
}

// Random deliveries, one after another into the same state: every record
// read is accounted for (read = inserted + updated + unchanged + rejected
// + superseded), and each count is the one the delivery was made to give.
func TestAccountsOfRandomDeliveries(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for world := range 20 {
		var state *Batch
		prior := map[string]string{}
		for step := range 3 {
			d, next := makeDelivery(rng, 5+rng.IntN(40), prior)
			dir := t.TempDir()
			for name, text := range d.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			src, err := configs.NewSource("s", "growpanel", dir, map[string]any{"plans": "plans.json", "customers": "customers.ndjson", "invoices": "inv_*.csv"})
			if err != nil {
				t.Fatal(err)
			}
			ex, err := extract.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			stored := state
			res, err := Normalize(context.Background(), "r", src, configs.ModeUpsert, ex, func() (*Batch, error) {
				if stored == nil {
					return &Batch{Source: "s"}, nil
				}
				return stored, nil
			})
			if err != nil {
				t.Fatalf("world %d step %d: %v", world, step, err)
			}
			for e, want := range d.want {
				got := res.Accounts[e]
				if !got.Balanced() {
					t.Fatalf("world %d step %d: %s does not add up: %s", world, step, e, got)
				}
				if got != want {
					t.Fatalf("world %d step %d: %s: got %s\nwant %s\nrejected %v\nsuperseded %v", world, step, e, got, want, res.Rejected, res.Superseded)
				}
			}
			named := 0
			for _, a := range res.Accounts {
				named += a.Superseded
			}
			if len(res.Superseded) != min(named, maxNamed) {
				t.Fatalf("world %d step %d: %d superseded, %d named", world, step, named, len(res.Superseded))
			}
			rejectedRows := 0
			for _, a := range res.Accounts {
				rejectedRows += a.Rejected
			}
			if rejectedRows != len(res.Rejected) {
				t.Fatalf("world %d step %d: %d rejected records, %d rejected rows", world, step, rejectedRows, len(res.Rejected))
			}
			b := res.Batch
			state, prior = &b, next
		}
	}
}
