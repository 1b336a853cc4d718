package metrics

import (
	"strings"
	"testing"
)

// A customer's rows all go to one shard, whatever its table.
func TestShardOfACustomer(t *testing.T) {
	seen := map[int]bool{}
	for i := range 1000 {
		id := "cus_" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('0'+i%10))
		k := Shard("stripe", id, 8)
		if k < 0 || k >= 8 || k != Shard("stripe", id, 8) {
			t.Fatalf("shard %d of %q", k, id)
		}
		seen[k] = true
	}
	if len(seen) != 8 {
		t.Errorf("1000 customers in %d of 8 shards", len(seen))
	}
	if Shard("ab", "c", 1<<30) == Shard("a", "bc", 1<<30) {
		t.Error("source and id run together")
	}
}
