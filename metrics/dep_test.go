package metrics

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the engine free of the packages that read and
// write data: metrics must not import extract, transform or load.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/extract", "/transform", "/load"} {
			if strings.HasPrefix(dep, "github.com/mrrflow/mrrflow") && strings.HasSuffix(dep, banned) {
				t.Errorf("metrics depends on %s", dep)
			}
		}
	}
	if !strings.Contains(string(out), "github.com/mrrflow/mrrflow/schemas") {
		t.Fatal("go list -deps did not list schemas: the check would see nothing")
	}
}
