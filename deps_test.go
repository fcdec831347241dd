package logos_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/logos-llm/logos"

// interfacePackages own the four interfaces and their value types; they are
// leaves: they import no other package of this module.
var interfacePackages = []string{
	module + "/store",
	module + "/providers",
	module + "/classify",
	module + "/scheduler",
}

// isImplementation reports whether pkg is a concrete implementation of one of
// the interfaces, which only cmd/ and examples/ may choose.
func isImplementation(pkg string) bool {
	if pkg == module+"/classify/ranking" {
		return false // rank arithmetic for the admin API, not a Classifier
	}
	for _, parent := range interfacePackages {
		if strings.HasPrefix(pkg, parent+"/") && !strings.HasSuffix(pkg, "test") {
			return true
		}
	}
	return false
}

// TestDependencyDirection guards the architecture: implementations never import
// the root package, the root imports no concrete implementation, and the
// interface packages are leaves.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	if len(deps) < 5 {
		t.Fatalf("go list found only %d packages", len(deps))
	}
	for pkg, ds := range deps {
		for _, d := range ds {
			if !strings.HasPrefix(d, module) {
				continue
			}
			switch {
			case d == module && !strings.HasPrefix(pkg, module+"/cmd/") && !strings.HasPrefix(pkg, module+"/examples/"):
				t.Errorf("%s imports the root package %s; only cmd/ and examples/ may", pkg, module)
			case pkg == module && isImplementation(d):
				t.Errorf("the root package imports the implementation %s; only cmd/ and examples/ may choose implementations", d)
			}
		}
		for _, leaf := range interfacePackages {
			if pkg != leaf {
				continue
			}
			for _, d := range ds {
				if strings.HasPrefix(d, module) {
					t.Errorf("interface package %s imports %s; interface packages must be leaves", pkg, d)
				}
			}
		}
	}
}
