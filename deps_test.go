package logos_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/logos-llm/logos/store"
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

// storeWriteMethods returns the names of the identity and catalogue methods
// of store.Store that write: every method of store.IdentityStore and
// store.CatalogStore but the reads (Get*, List*, Load*, Initialized).
func storeWriteMethods() map[string]bool {
	writes := map[string]bool{}
	for _, it := range []reflect.Type{reflect.TypeFor[store.IdentityStore](), reflect.TypeFor[store.CatalogStore]()} {
		for i := range it.NumMethod() {
			name := it.Method(i).Name
			switch {
			case strings.HasPrefix(name, "Get"), strings.HasPrefix(name, "List"), strings.HasPrefix(name, "Load"), name == "Initialized":
			default:
				writes[name] = true
			}
		}
	}
	return writes
}

// TestOnlyCatalogWritesTheCatalogue guards the one write path of the
// catalogue and the identities: no Go file outside internal/catalog and the
// store packages (store/...) calls a write method of the Store
// (CreateModel, UpdateProvider, GrantModel, SetProcessKey, Bootstrap, ...).
// Test files are exempt: they set up fixtures with the store directly. So
// is examples/: an example stands for an embedder's own program, which
// cannot import internal/catalog and fills its store as it likes. A call is
// a method call x.M(...) whose x is not an imported package
// (catalog.Bootstrap is the catalogue's own function); the check is
// syntactic, so calls of methods of the same name on other types are listed
// in notStore.
func TestOnlyCatalogWritesTheCatalogue(t *testing.T) {
	// notStore lists calls of methods named like a store write that are not
	// on a store, by file, receiver and method.
	notStore := map[[3]string]string{
		{"cmd/logosd/run.go", "r", "Bootstrap"}: "logos.Router.Bootstrap, which calls catalog.Bootstrap",
	}
	writes := storeWriteMethods()
	for _, m := range []string{"CreateModel", "UpdateProvider", "GrantModel", "CreateProcess", "DeleteProfile", "SetProcessKey", "Bootstrap", "CreatePrice", "MarkInitialized", "EnsureTokenType"} {
		if !writes[m] {
			t.Fatalf("the write methods derived from package store miss %s: %v", m, writes)
		}
	}
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		slash := filepath.ToSlash(path)
		if d.IsDir() {
			switch {
			case slash == "store", slash == "internal/catalog", slash == "examples", d.Name() == "testdata", strings.HasPrefix(d.Name(), ".") && slash != ".":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		imported := map[string]bool{}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			name := p[strings.LastIndex(p, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			imported[name] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !writes[sel.Sel.Name] {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && (imported[id.Name] || notStore[[3]string{filepath.ToSlash(path), id.Name, sel.Sel.Name}] != "") {
				return true // a package's function, such as catalog.Bootstrap
			}
			t.Errorf("%s: calls the store write method %s; change the catalogue through internal/catalog", fset.Position(call.Pos()), sel.Sel.Name)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files", checked)
	}
}
