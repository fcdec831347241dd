package logos_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/logos-llm/logos/store"
)

// The dependency tests say the architecture (README, Architecture):
//
//   - the interface packages store, providers, classify and scheduler are
//     leaves: they import no other package of this module;
//   - implementations of those interfaces import only their own interface
//     package, the leaves below, their own subpackages and the shared base
//     of their family; nothing but cmd/ and examples/ import the root
//     package, and the root chooses no implementation;
//   - router never imports a store implementation, and pipeline never
//     imports router;
//   - the top level holds only the folders of topLevel.

const module = "github.com/logos-llm/logos"

// interfacePackages own the four interfaces and their value types; they are
// leaves: they import no other package of this module.
var interfacePackages = []string{
	module + "/store",
	module + "/providers",
	module + "/classify",
	module + "/scheduler",
}

// leaves are the packages of this module, besides the interface packages,
// that any implementation may import. Each imports no package of this module
// (TestImplementationImports checks it), so an implementation importing
// them depends on nothing of Logos's internals.
var leaves = []string{
	module + "/db",               // the embedded SQL migrations
	module + "/scheduler/clock",  // a clock and timers tests can drive
	module + "/classify/ranking", // rank arithmetic of models
	module + "/internal/jsonobj", // JSON object scanning without decoding
	module + "/internal/apikey",  // the key format and its hash
	module + "/internal/oaierr",  // OpenAI-format error bodies
	module + "/internal/header",  // the one check of a header name
}

// bases are the shared code of one family of implementations, by the
// family's interface package: its implementations may import it. Azure
// OpenAI and Ollama speak OpenAI's wire protocol (openaicompat); the
// queueing schedulers share one engine (core). A base is itself held to the
// rule of implementations.
var bases = map[string]string{
	module + "/providers/openaicompat": module + "/providers",
	module + "/scheduler/core":         module + "/scheduler",
}

// bundles gather the implementations of one family for callers that want
// them all (providers/builtin is the registry of the built-in providers);
// they may import any implementation of their family.
var bundles = map[string]string{
	module + "/providers/builtin": module + "/providers",
}

// notImplementations are packages below an interface package that implement
// none of the interfaces, with why.
var notImplementations = map[string]string{
	module + "/scheduler/sim": "the scheduling simulator (cmd/logos-sim): it drives schedulers",
}

// family returns the interface package pkg is below, if any.
func family(pkg string) (string, bool) {
	for _, parent := range interfacePackages {
		if strings.HasPrefix(pkg, parent+"/") {
			return parent, true
		}
	}
	return "", false
}

// isImplementation reports whether pkg is a concrete implementation of one of
// the interfaces (or a base or bundle of them), which only cmd/ and
// examples/ may choose. Test support (storetest, providertest,
// schedulertest, pgtest) is not. classify has no implementation
// subpackages: its classifiers live beside the interface, in the leaf.
func isImplementation(pkg string) bool {
	if _, ok := family(pkg); !ok || strings.HasSuffix(pkg, "test") || slices.Contains(leaves, pkg) {
		return false
	}
	_, tool := notImplementations[pkg]
	return !tool
}

// goPackage is one package of the module as go list reports it.
type goPackage struct {
	imports []string // direct imports
	deps    []string // every package it depends on, transitively
}

// modulePackages lists the module's packages (not their tests).
func modulePackages(t *testing.T) map[string]goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]goPackage{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkgs[f[0]] = goPackage{imports: strings.Fields(f[1]), deps: strings.Fields(f[2])}
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// under reports whether pkg is dir (relative to the module) or below it.
func under(pkg, dir string) bool {
	p := module + "/" + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// TestDependencyDirection guards the architecture: implementations never import
// the root package, the root imports no concrete implementation, and the
// interface packages are leaves.
func TestDependencyDirection(t *testing.T) {
	for pkg, p := range modulePackages(t) {
		for _, d := range p.deps {
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
		if slices.Contains(interfacePackages, pkg) {
			for _, d := range p.deps {
				if strings.HasPrefix(d, module) {
					t.Errorf("interface package %s imports %s; interface packages must be leaves", pkg, d)
				}
			}
		}
	}
}

// TestImplementationImports holds every implementation to its own interface
// package, the leaves, its own subpackages and its family's bases (a bundle:
// also its family's implementations), so that each can be read, replaced
// and tested on its own.
func TestImplementationImports(t *testing.T) {
	pkgs := modulePackages(t)
	for _, leaf := range leaves {
		p, ok := pkgs[leaf]
		if !ok {
			t.Errorf("leaf %s does not exist", leaf)
		}
		for _, d := range p.imports {
			if strings.HasPrefix(d, module) {
				t.Errorf("leaf %s imports %s; a leaf imports no package of this module", leaf, d)
			}
		}
	}
	for pkg := range bases {
		if _, ok := pkgs[pkg]; !ok {
			t.Errorf("base %s does not exist", pkg)
		}
	}
	checked := 0
	for pkg, p := range pkgs {
		if !isImplementation(pkg) {
			continue
		}
		checked++
		fam, _ := family(pkg)
		for _, d := range p.imports {
			switch {
			case !strings.HasPrefix(d, module+"/") && d != module:
			case d == fam, slices.Contains(leaves, d), strings.HasPrefix(d, pkg+"/"), bases[d] == fam:
			case bundles[pkg] == fam && isImplementation(d) && strings.HasPrefix(d, fam+"/"):
			default:
				t.Errorf("implementation %s imports %s; it may import only %s, its own subpackages, its family's bases and the leaves %v",
					pkg, d, fam, leaves)
			}
		}
	}
	if checked < 8 {
		t.Errorf("checked only %d implementations", checked)
	}
}

// TestRouterAndPipelineLayers guards the two layers of a request: router
// (HTTP: routes, admin API, dashboard) reaches the Store only through the
// interfaces of package store, never an implementation, so an embedder's
// Store serves there too; and pipeline (the stages of a proxied request)
// never calls back into router.
func TestRouterAndPipelineLayers(t *testing.T) {
	checked := 0
	for pkg, p := range modulePackages(t) {
		switch {
		case under(pkg, "router"):
			checked++
			for _, d := range p.deps {
				if strings.HasPrefix(d, module+"/store/") {
					t.Errorf("%s imports %s: router may use only the interfaces of package store", pkg, d)
				}
			}
		case under(pkg, "pipeline"):
			checked++
			for _, d := range p.deps {
				if under(d, "router") {
					t.Errorf("%s imports %s: pipeline never imports router", pkg, d)
				}
			}
		}
	}
	if checked < 6 {
		t.Errorf("checked only %d router and pipeline packages", checked)
	}
}

// topLevel are the folders the top level of the module may hold (besides
// hidden ones such as .ci and .git).
var topLevel = []string{"router", "pipeline", "scheduler", "classify", "store", "providers", "monitor",
	"examples", "cmd", "db", "internal", "docs"}

// TestTopLevelFolders keeps the top level to the layout the README's
// architecture section describes: a new package finds its home inside one
// of these folders.
func TestTopLevelFolders(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		seen++
		if !slices.Contains(topLevel, e.Name()) {
			t.Errorf("top-level folder %s/ is not one of %v: give it a home under one of them (README, Architecture)", e.Name(), topLevel)
		}
	}
	if seen < 8 {
		t.Errorf("found only %d top-level folders", seen)
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
