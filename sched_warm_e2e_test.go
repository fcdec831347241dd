package logos_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
	"github.com/logos-llm/logos/scheduler/fcfs"
	logospolicy "github.com/logos-llm/logos/scheduler/logos"
	"github.com/logos-llm/logos/scheduler/sim"
	"github.com/logos-llm/logos/store"
)

// warmResult is one always-warm replay's figures, in trace seconds.
type warmResult struct {
	p50, p95, hi95      float64
	failed, records, ok int
	tiers               map[string]int
	node                providertest.GPUNodeStats
}

// replayWarm sends every row of tr to one always-awake vLLM deployment
// (the Coder-7B physics of logos-2x16, alone on the node, time-compressed
// by factor) through a Router whose scheduler is sched, and measures each
// request's TTFT at the client. Nothing is ever woken, put to sleep or
// loaded: this is production today, where every deployment is up.
func replayWarm(t *testing.T, sched scheduler.Scheduler, tr *sim.Trace, factor float64, seed uint64) warmResult {
	t.Helper()
	prof := e2eProfile(t)
	var m sim.ModelProfile
	for _, pm := range prof.Nodes[0].Models {
		if strings.Contains(pm.Name, "Coder-7B") {
			m = pm
		}
	}
	node := providertest.NewGPUNode(t, providertest.GPUNodeConfig{VRAMMB: 32768, TimeFactor: factor, Colocation: prof.Colocation,
		Models: []providertest.GPUModel{{Name: m.Name, AwakeMB: m.AwakeMB, SleepMB: m.SleepResidualMB,
			Load: secs(m.ColdLoadS), Wake: secs(m.WakeS), Sleep: secs(m.SleepS), Unload: secs(m.UnloadS),
			StepTime: msDur(m.StepAlphaMS), StepPerSeq: msDur(m.StepBetaMS), PrefillPerToken: msDur(m.PrefillMSPerTok),
			State: "awake"}}})
	e := newEnv(t, func(c *logos.Config) {
		c.Scheduler = sched
		c.QueueTimeout = 1200 * time.Second
		c.MaxQueueTimeout = 1200 * time.Second
	})
	srv := node.VLLM(m.Name)
	e.deploy(m.Name, providers.Target{Kind: providers.KindOpenAICompatible, BaseURL: srv.URL + "/v1", UpstreamModel: m.Name}, nil)
	ctx := t.Context()
	procs, err := e.store.ListProcesses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	procs[0].Priority = int(scheduler.PriorityHigh) // rows may ask for any priority
	if _, err := e.store.UpdateProcess(ctx, procs[0]); err != nil {
		t.Fatal(err)
	}
	e.reload()

	res := warmResult{tiers: map[string]int{}}
	ttft := make([]float64, len(tr.Rows))
	var hi []float64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	client := &http.Client{}
	for i := range tr.Rows {
		row := &tr.Rows[i]
		at := start.Add(time.Duration(float64(row.ArrivalMS) * float64(time.Millisecond) / factor))
		time.Sleep(time.Until(at))
		wg.Go(func() {
			out := sim.OutputTokens(row.ID, row.MaxTokens, seed, 0.65)
			body, _ := json.Marshal(map[string]any{"model": m.Name, "stream": true, "max_tokens": row.MaxTokens, "min_tokens": out,
				"messages": []map[string]string{{"role": "user", "content": strings.Repeat("w", max(row.PromptTokens-7, 1)*4)}}})
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Logos-Priority", strconv.Itoa(int(row.Priority)))
			first, tier, ok := func() (time.Duration, string, bool) {
				resp, err := client.Do(req)
				if err != nil {
					return time.Since(at), "", false
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b, _ := io.ReadAll(resp.Body)
					t.Logf("%s: status %d: %s", row.ID, resp.StatusCode, b)
					return time.Since(at), "", false
				}
				sc := bufio.NewScanner(resp.Body)
				var first time.Duration
				for sc.Scan() {
					if first == 0 && strings.Contains(sc.Text(), `"content"`) {
						first = time.Since(at)
					}
				}
				return first, resp.Header.Get("X-Logos-Tier"), first > 0 && sc.Err() == nil
			}()
			mu.Lock()
			defer mu.Unlock()
			ttft[i] = first.Seconds() * factor
			if row.Priority.Normalize() == scheduler.PriorityHigh {
				hi = append(hi, ttft[i])
			}
			res.tiers[tier]++
			if !ok {
				res.failed++
			}
		})
	}
	wg.Wait()
	for _, r := range e.usage() {
		res.records++
		if r.Outcome == store.OutcomeSuccess {
			res.ok++
		}
	}
	res.node = node.Stats()
	res.p50, res.p95, res.hi95 = sim.Percentile(ttft, 50), sim.Percentile(ttft, 95), sim.Percentile(hi, 95)
	return res
}

// TestLogosAtLeastFCFSWhenAlwaysWarmEndToEnd is issue 20's end-to-end
// check for making logos logosd's default: the same load (a generated
// hw3-like trace, every row sent to one always-awake deployment) through a
// real Router with the production FCFS scheduler (fcfs.New, logosd's
// default) and with logos on the production adapter. It asserts what must
// hold whatever the machine's timing: every request answered, one
// successful usage record each, no response from a sleeping or cold lane
// or the cloud, and the node
// never asked to wake, sleep, load or unload anything, or refusing a
// request. The TTFT figures are logged, not asserted (wall-clock timing on
// a shared machine is not a test); the simulator's
// TestAtLeastFCFSWhenAlwaysWarm compares them deterministically.
//
// LOGOS_E2E_FACTOR sets the time compression (default 30: the 10-minute
// trace takes 20 s per scheduler).
func TestLogosAtLeastFCFSWhenAlwaysWarmEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a 10-minute trace time-compressed, twice")
	}
	factor := 30.0
	if v, err := strconv.ParseFloat(os.Getenv("LOGOS_E2E_FACTOR"), 64); err == nil && v > 0 {
		factor = v
	}
	const seed = 1
	var csv bytes.Buffer
	if err := sim.Generate(&csv, sim.GenConfig{N: 300, Seed: 7, Arrivals: "bursty"}); err != nil {
		t.Fatal(err)
	}
	tr, err := sim.ParseTrace("gen-hw3-300-bursty-seed7", csv.Bytes(), sim.DefaultClasses())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	makers := map[string]func(t *testing.T) scheduler.Scheduler{
		"fcfs": func(t *testing.T) scheduler.Scheduler {
			s, err := fcfs.New(fcfs.Config{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"logos": func(t *testing.T) scheduler.Scheduler {
			a := core.NewAdapter(logospolicy.New(logospolicy.Config{}), core.AdapterConfig{Logger: quiet})
			t.Cleanup(func() { _ = a.Close() })
			return a
		},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| scheduler | TTFT p50 (s) | TTFT p95 (s) | high p95 (s) | failed | wakes+sleeps+loads+unloads |\n|---|---|---|---|---|---|\n")
	got := map[string]warmResult{}
	for _, name := range []string{"fcfs", "logos"} {
		t.Run(name, func(t *testing.T) {
			r := replayWarm(t, makers[name](t), tr, factor, seed)
			got[name] = r
			fmt.Fprintf(&table, "| %s | %.2f | %.2f | %.2f | %d | %d |\n", name, r.p50, r.p95, r.hi95, r.failed,
				r.node.Wakes+r.node.Sleeps+r.node.Loads+r.node.Unloads)
			if r.failed != 0 {
				t.Errorf("%d of %d requests failed", r.failed, len(tr.Rows))
			}
			if r.records != len(tr.Rows) || r.ok != len(tr.Rows) {
				t.Errorf("usage records = %d (%d succeeded), want %d", r.records, r.ok, len(tr.Rows))
			}
			if r.tiers[scheduler.TierSleeping]+r.tiers[scheduler.TierCold]+r.tiers[scheduler.TierCloud] != 0 {
				t.Errorf("tiers %v: want none sleeping, cold or cloud", r.tiers)
			}
			if n := r.node; n.Wakes+n.Sleeps+n.Loads+n.Unloads+n.Refused != 0 || n.Requests != len(tr.Rows) {
				t.Errorf("node stats %+v: want %d requests and no transition or refusal", n, len(tr.Rows))
			}
		})
	}
	if f, l := got["fcfs"], got["logos"]; f.p95 > 0 {
		t.Logf("logos/fcfs: p50 %.2f, p95 %.2f, high p95 %.2f (wall-clock, ×%g compressed: noisy)", l.p50/f.p50, l.p95/f.p95, l.hi95/f.hi95, factor)
	}
	t.Logf("\n%s", table.String())
}
