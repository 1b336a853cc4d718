package transform

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/civil"
	"github.com/mrrflow/mrrflow/schemas"
)

// FieldError is a problem with one field of a record.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "field " + e.Field + ": " + e.Msg }

// maxAmount bounds amounts so that MRR arithmetic cannot overflow: 10^15
// minor units is ten trillion dollars.
const maxAmount = 1_000_000_000_000_000

// reader pulls typed fields out of a raw record and keeps the first error.
type reader struct {
	rec *extract.Record
	err error
	// major reads amounts in major units (the source's amounts: major).
	major bool
}

func newReader(rec *extract.Record) *reader { return &reader{rec: rec, major: rec.MajorUnits} }

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = &FieldError{Field: r.rec.SourceName(name), Msg: fmt.Sprintf(format, args...)}
	}
}

func (r *reader) text(name string, required bool) string {
	v := r.rec.Get(name)
	if !v.Present() {
		if required {
			r.fail(name, "is required")
		}
		return ""
	}
	if v.Kind == extract.Object || v.Kind == extract.Bool {
		r.fail(name, "must be a string, got %s", v.Text)
		return ""
	}
	return strings.TrimSpace(v.Text)
}

func (r *reader) integer(name string, required bool, def int64) int64 {
	v := r.rec.Get(name)
	if !v.Present() {
		if required {
			r.fail(name, "is required")
		}
		return def
	}
	s := strings.TrimSpace(v.Text)
	if v.Kind == extract.Object || v.Kind == extract.Bool {
		r.fail(name, "must be an integer, got %s", s)
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			r.fail(name, "must be an integer, got %q", s)
			return def
		}
		n = int64(f)
	}
	return n
}

// amount reads money: integer minor units (digits with an optional sign:
// "9950", or a JSON integer), never a fraction or an exponent, which would
// be an export in major units read at a hundredth of its value. With the
// source's amounts: major, a decimal in major units ("99.50") converted by
// the currency's digits, exactly.
func (r *reader) amount(name string, required bool) int64 {
	v := r.rec.Get(name)
	if !v.Present() {
		if required {
			r.fail(name, "is required")
		}
		return 0
	}
	s := v.Text
	if v.Kind == extract.Object || v.Kind == extract.Bool {
		r.fail(name, "must be an integer number of minor units, got %s", s)
		return 0
	}
	if r.major {
		return r.majorAmount(name, strings.TrimSpace(s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		n, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	}
	if err != nil {
		if r.err == nil {
			r.fail(name, "must be an integer number of minor units (cents), got %q (an export in major units, 99.50, needs amounts: major on its source)", s)
		}
		return 0
	}
	if n > maxAmount || n < -maxAmount {
		r.fail(name, "%d is out of range (at most %d minor units)", n, int64(maxAmount))
		return 0
	}
	return n
}

// majorAmount converts a decimal in major units to minor units of the
// record's currency: exactly, or not at all (more decimals than the
// currency has is an error).
func (r *reader) majorAmount(name, s string) int64 {
	cur := strings.ToLower(strings.TrimSpace(r.rec.Get("currency").Text))
	if cur == "" {
		cur = strings.ToLower(strings.TrimSpace(r.rec.Get("account_currency").Text))
	}
	if !IsCurrency(cur) {
		r.fail(name, "%q is in major units (amounts: major), and the record names no currency to convert it by", s)
		return 0
	}
	digits := schemas.MinorDigits(cur)
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimLeft(s, "+-"), ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" || strings.Count(s, "-")+strings.Count(s, "+") > 1 {
		r.fail(name, "must be a decimal number of %s (amounts: major), got %q", strings.ToUpper(cur), s)
		return 0
	}
	if t := strings.TrimRight(frac, "0"); len(t) > digits {
		r.fail(name, "%q has more decimals than %s's %d", s, strings.ToUpper(cur), digits)
		return 0
	}
	frac += strings.Repeat("0", digits)
	n, err := strconv.ParseInt(whole+frac[:digits], 10, 64)
	if err != nil || n > maxAmount {
		r.fail(name, "%q is out of range", s)
		return 0
	}
	if neg {
		n = -n
	}
	return n
}

func (r *reader) boolean(name string) bool {
	v := r.rec.Get(name)
	if !v.Present() {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v.Text)) {
	case "true", "1", "yes", "t":
		return true
	case "false", "0", "no", "f":
		return false
	}
	r.fail(name, "must be true or false, got %q", v.Text)
	return false
}

// Layouts accepted for date-times; those without a zone are UTC.
// timeLayouts are the date-time spellings read (README, "Dates and
// times"): ISO 8601 with a T or a space, with or without seconds and their
// fractions, with an offset (+02:00, +0200, Z) or none (UTC); and a date
// alone. A trailing " UTC" or " Z" is taken off first.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999 Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04Z07:00",
	"2006-01-02 15:04",
	time.DateOnly,
}

// ParseTime parses an ISO 8601 date or date-time in any of the spellings
// of timeLayouts (one without a zone is UTC), or Unix epoch seconds.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if us, ok := fastMicros(s); ok {
		return time.UnixMicro(us).UTC(), true
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil && len(s) >= 9 {
		// Unix epoch seconds (9 digits and more: 1973 on; a shorter
		// number is no date anyone sends).
		return time.Unix(secs, 0).UTC(), true
	}
	for _, suffix := range []string{" UTC", " utc", " Z", " GMT"} {
		if strings.HasSuffix(s, suffix) {
			s = strings.TrimSpace(strings.TrimSuffix(s, suffix))
			break
		}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (r *reader) time(name string, required bool) int64 {
	v := r.rec.Get(name)
	if !v.Present() {
		if required {
			r.fail(name, "is required")
		}
		return schemas.NoTime
	}
	if us, ok := fastMicros(v.Text); ok && v.Kind == extract.Text {
		return us
	}
	t, ok := ParseTime(v.Text)
	if !ok || (v.Kind != extract.Text && v.Kind != extract.Number) {
		r.fail(name, "%q is not an ISO 8601 date-time nor Unix epoch seconds", v.Text)
		return schemas.NoTime
	}
	if t.Year() < 1970 || t.Year() > 2200 {
		r.fail(name, "%s is out of range (1970 to 2200)", t.Format(time.RFC3339))
		return schemas.NoTime
	}
	return schemas.Micros(t)
}

func (r *reader) country(name string) string {
	s := strings.ToLower(r.text(name, false))
	if s != "" && !isCountry(s) {
		r.fail(name, "%q is not an ISO 3166 alpha-2 country code", r.rec.Get(name).Text)
	}
	return s
}

// currency reads a currency code, returning the code of the list (not the
// text read, which then goes).
func (r *reader) currency(name string, required bool) string {
	s := strings.ToLower(r.text(name, required))
	if s == "" {
		return ""
	}
	code, ok := currencies[s]
	if !ok {
		r.fail(name, "%q is not an ISO 4217 currency code", r.rec.Get(name).Text)
		return s
	}
	return code
}

// ISO 3166-1 alpha-2 codes, lower case.
const countryCodes = "ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo bq br bs bt bv bw by bz " +
	"ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg eh er es et fi fj fk fm fo fr " +
	"ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp " +
	"ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz " +
	"na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw " +
	"sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz " +
	"ua ug um us uy uz va vc ve vg vi vn vu wf ws xk ye yt za zm zw"

// ISO 4217 currency codes in use, lower case.
const currencyCodes = "aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd btn bwp byn bzd " +
	"cad cdf chf clp cny cop crc cuc cup cve czk djf dkk dop dzd egp ern etb eur fjd fkp gbp gel ghs gip gmd gnf gtq gyd " +
	"hkd hnl hrk htg huf idr ils inr iqd irr isk jmd jod jpy kes kgs khr kmf kpw krw kwd kyd kzt lak lbp lkr lrd lsl lyd " +
	"mad mdl mga mkd mmk mnt mop mru mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar " +
	"ron rsd rub rwf sar sbd scr sdg sek sgd shp sle sll sos srd ssp stn svc syp szl thb tjs tmt tnd top try ttd twd tzs " +
	"uah ugx usd uyu uzs ves vnd vuv wst xaf xcd xof xpf yer zar zmw zwl"

var (
	countries  = setOf(countryCodes)
	currencies = setOf(currencyCodes)
)

// setOf maps each code of the list to itself.
func setOf(list string) map[string]string {
	m := map[string]string{}
	for _, c := range strings.Fields(list) {
		m[c] = c
	}
	return m
}

func isCountry(s string) bool { _, ok := countries[s]; return ok }

// IsCurrency reports whether s is a lower-case ISO 4217 code in use.
func IsCurrency(s string) bool { _, ok := currencies[s]; return ok }

// fastMicros reads the two most common forms, 2006-01-02T15:04:05Z and
// 2006-01-02, between 1970 and 2200, straight into microseconds; anything
// else (other forms, bad dates, out of range) is left to the layouts of
// ParseTime.
func fastMicros(s string) (int64, bool) {
	if len(s) != 10 && len(s) != 20 {
		return 0, false
	}
	if s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1970 || y > 2200 || m < 1 || m > 12 || d < 1 || d > civil.DaysIn(y, time.Month(m)) {
		return 0, false
	}
	secs := 0
	if len(s) == 20 {
		if s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
			return 0, false
		}
		h, ok1 := digits(s[11:13])
		mi, ok2 := digits(s[14:16])
		se, ok3 := digits(s[17:19])
		if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || se > 59 {
			return 0, false
		}
		secs = h*3600 + mi*60 + se
	}
	return (int64(civil.Days(y, time.Month(m), d))*86400 + int64(secs)) * 1_000_000, true
}

func digits(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
