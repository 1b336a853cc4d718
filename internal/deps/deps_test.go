package deps

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mrrflow/mrrflow"

// pkg is what go list says of one package.
type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
}

// mayImport reads "It may import: a, b, c." from a doc.go (the sentence
// may run over several comment lines); "nothing of mrrflow" is none.
var mayImport = regexp.MustCompile(`(?s)It may import: ([^.]*)\.`)

func allowed(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "doc.go"))
	if err != nil {
		t.Errorf("%s has no doc.go saying what it may import: %v", dir, err)
		return nil
	}
	m := mayImport.FindSubmatch(data)
	if m == nil {
		t.Errorf("%s/doc.go does not say \"It may import: ...\"", dir)
		return nil
	}
	text := strings.Join(strings.Fields(strings.ReplaceAll(string(m[1]), "//", " ")), " ")
	if text == "nothing of mrrflow" {
		return []string{}
	}
	var out []string
	for _, p := range strings.Split(text, ",") {
		out = append(out, module+"/"+strings.TrimSpace(p))
	}
	return out
}

// TestImports checks every package of the module against its doc.go:
// each mrrflow package it imports (its tests' imports aside) is one the
// doc allows, and each one the doc names exists.
func TestImports(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Dir,Imports", module+"/...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	known := map[string]bool{}
	for _, p := range pkgs {
		known[p.ImportPath] = true
	}
	for _, name := range []string{"metrics", "extract", "load", "jobs", "internal/store"} {
		if !known[module+"/"+name] {
			t.Fatalf("go list did not list %s: the check would see nothing", name)
		}
	}
	for _, p := range pkgs {
		may := allowed(t, p.Dir)
		if may == nil {
			continue
		}
		for _, a := range may {
			if !known[a] {
				t.Errorf("%s/doc.go allows %s, which is not a package", p.ImportPath, a)
			}
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") && !slices.Contains(may, imp) {
				t.Errorf("%s imports %s, which its doc.go does not allow", p.ImportPath, strings.TrimPrefix(imp, module+"/"))
			}
		}
	}
}
