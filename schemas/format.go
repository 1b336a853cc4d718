package schemas

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// FormatValue renders one value as text: dates as YYYY-MM-DD, timestamps
// as RFC 3339 in UTC, booleans as true/false, integers plainly, lists as a
// JSON array, NULL as the empty string.
func FormatValue(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return ""
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Date32:
		return a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Timestamp:
		return TimeOf(int64(a.Value(i))).Format(time.RFC3339)
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			vals = append(vals, FormatValue(a.ListValues(), int(j)))
		}
		b, _ := json.Marshal(vals)
		return string(b)
	}
	return a.ValueStr(i)
}

// JSONValue returns one value for JSON output: numbers and booleans as
// such, lists as arrays, NULL as nil, the rest as FormatValue's text.
func JSONValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := make([]any, 0, end-start)
		for j := start; j < end; j++ {
			vals = append(vals, JSONValue(a.ListValues(), int(j)))
		}
		return vals
	}
	return FormatValue(a, i)
}
