package router

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
)

// undocumented are the registered patterns the document leaves out on
// purpose: the catch-all 404, the dashboard's static files and the 405
// answers of the job submission paths.
var undocumented = []string{"/", "GET /ui/", "GET /ui", "/jobs/v1/{op...}", "/jobs/openai/{op...}"}

// proxyRoute reports whether pattern is one of the OpenAI-compatible or
// Ollama-native proxy routes: those are OpenAI's and Ollama's API, not
// described by Logos's document.
func proxyRoute(pattern string) bool {
	_, path, ok := strings.Cut(pattern, " ")
	if !ok {
		path = pattern
	}
	for _, prefix := range []string{"/v1/", "/openai/", "/api/"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// discardUsage is a pipeline.UsageSink that keeps nothing.
type discardUsage struct{}

func (discardUsage) Write(context.Context, store.UsageRecord) error { return nil }

// TestOpenAPIMatchesRoutes walks the routes of a Handler with every optional
// part that adds routes (a Pipeline and a job queue): every one must be in
// /openapi.json, and every documented operation must be registered. A
// wildcard {name...} of a pattern is {name} in the document.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newIdentityEnv(t)
	sched, err := fcfs.New(fcfs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sched.Close() })
	p, err := pipeline.New(pipeline.Config{Providers: providers.Registry{}, Scheduler: sched, Usage: discardUsage{}})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Store: e.st, Pipeline: p, Jobs: e.st})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item {
			documented[strings.ToUpper(method)+" "+path] = true
			if op["summary"] == "" || op["responses"] == nil {
				t.Errorf("%s %s has no summary or responses", method, path)
			}
			if rb, ok := op["requestBody"].(map[string]any); ok {
				schema := rb["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
				if schema["type"] != "object" {
					t.Errorf("%s %s: request schema is not an object: %v", method, path, schema)
				}
			}
		}
	}
	registered := map[string]bool{}
	jobRoutes := 0
	for _, p := range h.Patterns() {
		if slices.Contains(undocumented, p) || proxyRoute(p) {
			continue
		}
		if strings.Contains(p, "/jobs") {
			jobRoutes++
		}
		p = strings.ReplaceAll(p, "...}", "}")
		registered[p] = true
		if !documented[p] {
			t.Errorf("route %q is registered but not in /openapi.json", p)
		}
	}
	for p := range documented {
		if !registered[p] {
			t.Errorf("/openapi.json documents %q, which is not registered", p)
		}
	}
	if len(documented) < 50 {
		t.Errorf("only %d operations documented", len(documented))
	}
	if jobRoutes < 5 {
		t.Errorf("only %d job routes registered: the Handler was built without the job API", jobRoutes)
	}
	// Path parameters are declared.
	for path, item := range doc.Paths {
		for method, op := range item {
			for _, name := range []string{"{id}", "{op}"} {
				if !strings.Contains(path, name) {
					continue
				}
				found := false
				params, _ := op["parameters"].([]any)
				for _, p := range params {
					m := p.(map[string]any)
					found = found || (m["in"] == "path" && "{"+m["name"].(string)+"}" == name)
				}
				if !found {
					t.Errorf("%s %s does not declare the path parameter %s", method, path, name)
				}
			}
		}
	}
	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/components/schemas/")
				if _, ok := doc.Components.Schemas[name]; !ok {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var all any
	_ = json.Unmarshal(raw, &all)
	walk(all)
}

// The response schemas of the dashboard's endpoints name the fields the
// handlers really answer.
func TestOpenAPIResponseSchemasMatchAnswers(t *testing.T) {
	e := newStatsEnv(t)
	schemas := apiSchemas()
	check := func(schema string, v map[string]any) {
		t.Helper()
		props := schemas[schema].(map[string]any)["properties"].(map[string]any)
		for k := range v {
			if _, ok := props[k]; !ok {
				t.Errorf("%s answers %q, which its schema lacks", schema, k)
			}
		}
		for _, k := range schemas[schema].(map[string]any)["required"].([]string) {
			if _, ok := v[k]; !ok {
				t.Errorf("%s: required %q missing from the answer %v", schema, k, v)
			}
		}
	}
	check("RequestSummary", e.ok("list_requests", e.rootKey, e.dayRange())["requests"].([]any)[0].(map[string]any))
	check("RequestRecord", e.ok("get_request", e.rootKey, map[string]any{"request_id": "root-1"})["request"].(map[string]any))
	check("LatencyPoint", e.ok("latency_stats", e.rootKey, e.dayRange())["series"].([]any)[0].(map[string]any))
	e.ok("add_model", e.rootKey, map[string]any{"name": "m"})
	check("Model", e.ok("get_models", e.rootKey, map[string]any{})["models"].([]any)[0].(map[string]any))
	e.ok("add_billing", e.rootKey, map[string]any{"type_name": "prompt_tokens", "type_cost": 0.001, "valid_from": "2020-01-01T00:00:00Z"})
	check("Price", e.ok("get_prices", e.rootKey, map[string]any{})["prices"].([]any)[0].(map[string]any))
	e.ok("set_budget", e.rootKey, map[string]any{"process_id": e.alicePID, "limit": "5", "currency": "EUR", "period": "day"})
	check("Budget", e.ok("get_budgets", e.rootKey, map[string]any{})["budgets"].([]any)[0].(map[string]any))

	je, _ := newJobsEnv(t)
	check("JobRow", je.ok("list_jobs", je.rootKey, map[string]any{})["jobs"].([]any)[0].(map[string]any))
	jobs, err := je.st.ListJobs(je.ctx, store.JobFilter{})
	if err != nil || len(jobs) == 0 {
		t.Fatalf("ListJobs: %v %v", jobs, err)
	}
	for _, j := range jobs {
		var v map[string]any
		b, _ := json.Marshal(viewOf(j))
		_ = json.Unmarshal(b, &v)
		check("Job", v)
	}
}
