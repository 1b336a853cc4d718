package extract

// Reading the fields mrrflow maps from a Stripe object's text: a walk over
// the JSON (checked valid first), every value a slice of the text, no
// reflection and no map. A field of the wrong type is an error naming it.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// stripeObject is the fields mrrflow reads of any Stripe object.
type stripeObject struct {
	ID, Object, Currency string
	Created              int64

	// customer
	Name, Email    string
	Description    string // a customer's free text, its name when it has none
	Country, State string
	Metadata       [][2]string
	Customer       string // an id, or the expanded object's

	// price, plan: Price is set when the object recurs
	Nickname, Product string
	Price             *stripePrice

	// subscription (Status also an invoice's and a credit note's)
	Status                        string
	CanceledAt, CancelAt, EndedAt int64 // 0 when not set
	Paused                        bool  // pause_collection is set

	// invoice
	Subscription string // invoice.subscription, or parent.subscription_details
	PaidAt       int64
	Lines        []stripeLine
	HasLines     bool
	LinesHasMore bool

	// credit note (Amount also a refund's)
	Invoice       string
	Total         int64
	HasTotal      bool
	TotalExTax    int64 // total_excluding_tax
	HasTotalExTax bool
	Amount        int64
	HasAmount     bool

	// event
	DataObject string // the object as of the event, as text
}

// stripeLine is an invoice line item, in either API shape, resolved: which
// subscription, price and proration it is, whichever shape said it.
type stripeLine struct {
	ID, Currency string
	Invoice      string // a line item listed on its own
	Amount       int64  // before discounts, inclusive tax in it
	Discount     int64  // discount_amounts
	Tax          int64  // all tax
	ExclusiveTax int64  // the tax not in Amount
	Quantity     int64
	HasQuantity  bool
	Subscription string
	Proration    bool
	SubLine      bool          // bills a subscription item (type subscription, or parent.subscription_item_details)
	PriceID      string        // price, plan, or pricing.price_details.price
	Prices       []stripePrice // the prices the line embeds
	Start, End   int64         // period
}

// stripePrice is a recurring price (or legacy plan): a plan of mrrflow.
type stripePrice struct {
	id, name, product, currency, unit string
	count                             int64
	metered                           bool
}

// stripeDec decodes one object; err is the first field that failed, named
// after prefix (the path of an object nested in another).
type stripeDec struct {
	prefix string
	err    error
}

// fail records that a field holds a value (its text) of the wrong type.
func (d *stripeDec) fail(field, value, want string) {
	if d.err != nil {
		return
	}
	if len(value) > 40 {
		value = value[:37] + "..."
	}
	d.err = &fieldError{field: d.prefix + field, problem: value + " is not " + want}
}

// fieldError is a field of the wrong type.
type fieldError struct{ field, problem string }

func (e *fieldError) Error() string { return "field " + e.field + ": " + e.problem }

// null reads a null at the cursor, if it is one.
func null(v *jsonCursor) bool {
	if v.peek() == 'n' {
		v.literal("null")
		return true
	}
	return false
}

// int reads an integer; null is 0, and so is any other value, a fault.
func (d *stripeDec) int(field string, v *jsonCursor) int64 {
	n, _ := d.intOK(field, v)
	return n
}

// intOK reads an integer, and says whether there was one.
func (d *stripeDec) intOK(field string, v *jsonCursor) (int64, bool) {
	switch c := v.peek(); {
	case c == '-' || '0' <= c && c <= '9':
		text := v.number()
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n, true
		}
		d.fail(field, text, "an integer")
	case null(v):
	default:
		d.fail(field, v.skip(), "an integer")
	}
	return 0, false
}

func (d *stripeDec) str(field string, v *jsonCursor) string {
	switch {
	case v.peek() == '"':
		return v.text()
	case null(v):
	default:
		d.fail(field, v.skip(), "a string")
	}
	return ""
}

func (d *stripeDec) bool(field string, v *jsonCursor) bool {
	switch v.peek() {
	case 't':
		v.literal("true")
		return true
	case 'f':
		v.literal("false")
	case 'n':
		v.literal("null")
	default:
		d.fail(field, v.skip(), "true or false")
	}
	return false
}

// object walks a nested object; null is an absent one.
func (d *stripeDec) object(field string, v *jsonCursor, fn func(key string, v *jsonCursor)) bool {
	switch {
	case v.peek() == '{':
		v.members(fn)
		return true
	case null(v):
	default:
		d.fail(field, v.skip(), "an object")
	}
	return false
}

// array walks a nested array; null is an empty one.
func (d *stripeDec) array(field string, v *jsonCursor, fn func(v *jsonCursor)) {
	switch {
	case v.peek() == '[':
		v.elements(fn)
	case null(v):
	default:
		d.fail(field, v.skip(), "an array")
	}
}

// ref reads a reference: an id, or an expanded object's id.
func (d *stripeDec) ref(field string, v *jsonCursor) string {
	if v.peek() != '{' {
		return d.str(field, v)
	}
	id := ""
	v.members(func(k string, v *jsonCursor) {
		if k == "id" {
			id = d.str(field+".id", v)
		}
	})
	return id
}

// price reads a reference to a price or plan; an expanded one is added to
// prices (without a unit when it does not recur).
func (d *stripeDec) price(field string, v *jsonCursor, prices *[]stripePrice) string {
	if v.peek() != '{' {
		return d.str(field, v)
	}
	var pd stripeDec
	var p stripePrice
	var object string
	var recurring, plan priceRecurrence
	v.members(func(k string, v *jsonCursor) { pd.priceMember(k, v, &p, &object, &recurring, &plan) })
	if fe, ok := pd.err.(*fieldError); ok && d.err == nil {
		fe.field = d.prefix + field + "." + fe.field
		d.err = fe
	}
	if p.id != "" {
		if p.finish(object, recurring, plan) {
			*prices = append(*prices, p)
		} else {
			*prices = append(*prices, stripePrice{id: p.id}) // one-time: no unit
		}
	}
	return p.id
}

// decodeStripe reads an object's fields from its text, checking that the
// text is JSON as it walks it.
func decodeStripe(s string, o *stripeObject) error {
	c := &jsonCursor{s: s}
	err := decodeTop(c, o)
	if c.bad {
		*o = stripeObject{}
		if !json.Valid([]byte(s)) {
			return fmt.Errorf("not valid JSON: %s", ndjsonProblem([]byte(s)))
		}
		// Valid, but nested deeper than the walk checks: walk it trusted.
		c = &jsonCursor{s: s, trusted: true}
		err = decodeTop(c, o)
	}
	return err
}

// decodeTop reads a whole text: one object, and nothing after it.
func decodeTop(c *jsonCursor, o *stripeObject) error {
	if k := c.peek(); k != '{' {
		if c.bad {
			return errors.New("not a JSON object: the record is empty")
		}
		kind := map[byte]string{'[': "array", '"': "string", 't': "bool", 'f': "bool", 'n': "null"}[k]
		if kind == "" {
			kind = "number"
		}
		c.skip()
		if skipSpace(c.s, c.i) != len(c.s) {
			c.bad = true
		}
		return errors.New("not a JSON object: found a JSON " + kind)
	}
	err := decodeMembers(c, o)
	if skipSpace(c.s, c.i) != len(c.s) {
		c.bad = true
	}
	return err
}

// decodeMembers reads the object at the cursor (peek said '{').
func decodeMembers(c *jsonCursor, o *stripeObject) error {
	var d stripeDec
	var p stripePrice
	var recurring, plan priceRecurrence
	c.members(func(k string, v *jsonCursor) {
		switch k {
		case "id":
			o.ID = d.str(k, v)
		case "object":
			o.Object = d.str(k, v)
		case "created":
			o.Created = d.int(k, v)
		case "currency":
			o.Currency = strings.ToLower(d.str(k, v))
		case "name":
			o.Name = d.str(k, v)
		case "email":
			o.Email = d.str(k, v)
		case "description":
			o.Description = d.str(k, v)
		case "metadata":
			d.object(k, v, func(mk string, mv *jsonCursor) {
				o.Metadata = append(o.Metadata, [2]string{mk, d.str("metadata."+mk, mv)})
			})
		case "address":
			d.object(k, v, func(ak string, av *jsonCursor) {
				switch ak {
				case "country":
					o.Country = d.str("address.country", av)
				case "state":
					o.State = d.str("address.state", av)
				}
			})
		case "customer":
			o.Customer = d.ref(k, v)
		case "nickname":
			o.Nickname = d.str(k, v)
		case "product":
			o.Product = d.ref(k, v)
		case "interval", "interval_count", "usage_type", "recurring":
			d.priceMember(k, v, &p, &o.Object, &recurring, &plan)
		case "status":
			o.Status = d.str(k, v)
		case "canceled_at":
			o.CanceledAt = d.int(k, v)
		case "cancel_at":
			o.CancelAt = d.int(k, v)
		case "ended_at":
			o.EndedAt = d.int(k, v)
		case "pause_collection":
			o.Paused = d.object(k, v, func(string, *jsonCursor) {})
		case "subscription":
			if o.Subscription == "" {
				o.Subscription = d.ref(k, v)
			}
		case "parent":
			d.object(k, v, func(pk string, pv *jsonCursor) {
				if pk == "subscription_details" {
					d.object("parent.subscription_details", pv, func(sk string, sv *jsonCursor) {
						if sk == "subscription" {
							o.Subscription = d.ref("parent.subscription_details.subscription", sv)
						}
					})
				}
			})
		case "status_transitions":
			d.object(k, v, func(tk string, tv *jsonCursor) {
				if tk == "paid_at" {
					o.PaidAt = d.int("status_transitions.paid_at", tv)
				}
			})
		case "lines":
			o.Lines, o.LinesHasMore = o.Lines[:0], false // a key given twice: the last wins
			o.HasLines = d.object(k, v, func(lk string, lv *jsonCursor) {
				switch lk {
				case "has_more":
					o.LinesHasMore = d.bool("lines.has_more", lv)
				case "data":
					o.Lines = o.Lines[:0] // a key given twice: the last wins
					d.array("lines.data", lv, func(item *jsonCursor) {
						var l stripeLine
						var sh lineShape
						ld := stripeDec{prefix: "lines.data[]."}
						if d.object("lines.data[]", item, func(k string, v *jsonCursor) { ld.line(&l, &sh, k, v) }) {
							l.resolve(&sh)
							o.Lines = append(o.Lines, l)
						}
						if d.err == nil {
							d.err = ld.err
						}
					})
				}
			})
		case "invoice":
			o.Invoice = d.ref(k, v)
		case "total":
			o.Total, o.HasTotal = d.intOK(k, v)
		case "total_excluding_tax":
			o.TotalExTax, o.HasTotalExTax = d.intOK(k, v)
		case "amount":
			o.Amount, o.HasAmount = d.intOK(k, v)
		case "data":
			d.object(k, v, func(dk string, dv *jsonCursor) {
				if dk == "object" && dv.peek() == '{' {
					o.DataObject = dv.skip()
				}
			})
		}
	})
	if d.err != nil {
		return d.err
	}
	if o.Object == "price" || o.Object == "plan" {
		p.id, p.name, p.product, p.currency = o.ID, o.Nickname, o.Product, o.Currency
		if p.id != "" && p.finish(o.Object, recurring, plan) {
			o.Price = new(p)
		}
	}
	return nil
}

// lineShape is what a line says in its shape's own fields, before it is
// resolved to one subscription, proration and price.
type lineShape struct {
	typ, sub, price, plan, pricing  string
	proration                       bool
	item, invItem                   bool // parent.subscription_item_details, parent.invoice_item_details
	itemSub, invItemSub             string
	itemProration, invItemProration bool
}

// resolve sets the line's subscription, proration and price from what
// its shape said.
func (l *stripeLine) resolve(sh *lineShape) {
	l.Subscription, l.Proration, l.SubLine = sh.sub, sh.proration, sh.typ == "subscription"
	switch {
	case sh.item:
		l.Subscription, l.Proration, l.SubLine = sh.itemSub, sh.itemProration, true
	case sh.invItem:
		l.Subscription, l.Proration = sh.invItemSub, sh.invItemProration
	}
	l.PriceID = cmp.Or(sh.price, sh.plan, sh.pricing)
}

// decodeLine reads a line item listed on its own.
func decodeLine(s string) (stripeLine, error) {
	var d stripeDec
	var l stripeLine
	var sh lineShape
	c := &jsonCursor{s: s}
	if c.peek() != '{' {
		return l, errors.New("not a JSON object")
	}
	c.members(func(k string, v *jsonCursor) { d.line(&l, &sh, k, v) })
	if c.bad {
		return l, errors.New("not valid JSON")
	}
	l.resolve(&sh)
	return l, d.err
}

// taxFields name the fields of a line's taxes (from 2025) and tax_amounts
// (up to 2024) in errors: an item, its amount, and how it is applied.
var taxFields = map[string][3]string{
	"taxes":       {"taxes[]", "taxes[].amount", "taxes[].tax_behavior"},
	"tax_amounts": {"tax_amounts[]", "tax_amounts[].amount", "tax_amounts[].inclusive"},
}

// details reads a line's parent.subscription_item_details or
// parent.invoice_item_details (field, fields: their members' names).
func (d *stripeDec) details(field string, fields [2]string, v *jsonCursor, sub *string, proration *bool) bool {
	return d.object(field, v, func(k string, v *jsonCursor) {
		switch k {
		case "subscription":
			*sub = d.ref(fields[0], v)
		case "proration":
			*proration = d.bool(fields[1], v)
		}
	})
}

// line reads one member of a line item into the line, or into its shape.
func (d *stripeDec) line(l *stripeLine, sh *lineShape, k string, v *jsonCursor) {
	switch k {
	case "id":
		l.ID = d.str(k, v)
	case "amount":
		l.Amount = d.int(k, v)
	case "currency":
		l.Currency = strings.ToLower(d.str(k, v))
	case "invoice":
		l.Invoice = d.ref(k, v)
	case "type":
		sh.typ = d.str(k, v)
	case "proration":
		sh.proration = d.bool(k, v)
	case "quantity":
		l.Quantity, l.HasQuantity = d.intOK(k, v)
	case "subscription":
		sh.sub = d.ref(k, v)
	case "price":
		sh.price = d.price(k, v, &l.Prices)
	case "plan":
		sh.plan = d.price(k, v, &l.Prices)
	case "period":
		d.object(k, v, func(pk string, pv *jsonCursor) {
			switch pk {
			case "start":
				l.Start = d.int("period.start", pv)
			case "end":
				l.End = d.int("period.end", pv)
			}
		})
	case "parent":
		d.object(k, v, func(pk string, pv *jsonCursor) {
			switch pk {
			case "subscription_item_details":
				sh.item = d.details("parent.subscription_item_details",
					[2]string{"parent.subscription_item_details.subscription", "parent.subscription_item_details.proration"}, pv, &sh.itemSub, &sh.itemProration)
			case "invoice_item_details":
				sh.invItem = d.details("parent.invoice_item_details",
					[2]string{"parent.invoice_item_details.subscription", "parent.invoice_item_details.proration"}, pv, &sh.invItemSub, &sh.invItemProration)
			}
		})
	case "pricing":
		d.object(k, v, func(pk string, pv *jsonCursor) {
			if pk == "price_details" {
				d.object("pricing.price_details", pv, func(dk string, dv *jsonCursor) {
					if dk == "price" {
						sh.pricing = d.price("pricing.price_details.price", dv, &l.Prices)
					}
				})
			}
		})
	case "discount_amounts":
		d.array(k, v, func(item *jsonCursor) {
			d.object("discount_amounts[]", item, func(dk string, dv *jsonCursor) {
				if dk == "amount" {
					l.Discount += d.int("discount_amounts[].amount", dv)
				}
			})
		})
	case "tax_amounts", "taxes":
		d.array(k, v, func(item *jsonCursor) {
			var amount int64
			exclusive := true
			f := taxFields[k]
			d.object(f[0], item, func(tk string, tv *jsonCursor) {
				switch tk {
				case "amount":
					amount = d.int(f[1], tv)
				case "inclusive": // tax_amounts, up to 2024
					exclusive = !d.bool(f[2], tv)
				case "tax_behavior": // taxes, from 2025
					exclusive = d.str(f[2], tv) != "inclusive"
				}
			})
			l.Tax += amount
			if exclusive {
				l.ExclusiveTax += amount
			}
		})
	}
}

// priceRecurrence is how a price recurs: its recurring object, or a
// legacy plan's own fields.
type priceRecurrence struct {
	unit, usage string
	count       int64
	set         bool
}

// priceMember reads one member of a price or plan object.
func (d *stripeDec) priceMember(k string, v *jsonCursor, p *stripePrice, object *string, recurring, plan *priceRecurrence) {
	switch k {
	case "id":
		p.id = d.str(k, v)
	case "object":
		*object = d.str(k, v)
	case "nickname":
		p.name = d.str(k, v)
	case "product":
		p.product = d.ref(k, v)
	case "currency":
		p.currency = strings.ToLower(d.str(k, v))
	case "interval":
		plan.unit, plan.set = d.str(k, v), true
	case "interval_count":
		plan.count = d.int(k, v)
	case "usage_type":
		plan.usage = d.str(k, v)
	case "recurring":
		recurring.set = d.object(k, v, func(rk string, rv *jsonCursor) {
			switch rk {
			case "interval":
				recurring.unit = d.str("recurring.interval", rv)
			case "interval_count":
				recurring.count = d.int("recurring.interval_count", rv)
			case "usage_type":
				recurring.usage = d.str("recurring.usage_type", rv)
			}
		})
	}
}

// finish sets how the price recurs; false for a one-time price.
func (p *stripePrice) finish(object string, recurring, plan priceRecurrence) bool {
	switch {
	case recurring.set && recurring.unit != "":
		p.unit, p.count, p.metered = recurring.unit, max(recurring.count, 1), recurring.usage == "metered"
	case object == "plan" && plan.unit != "":
		p.unit, p.count, p.metered = plan.unit, max(plan.count, 1), plan.usage == "metered"
	default:
		return false
	}
	return true
}
