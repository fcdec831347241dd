package logos_test

import (
	"bufio"
	"bytes"
	"context"
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/monitor/lifecycle"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/baselines"
	"github.com/logos-llm/logos/scheduler/clock"
	"github.com/logos-llm/logos/scheduler/core"
	logospolicy "github.com/logos-llm/logos/scheduler/logos"
	"github.com/logos-llm/logos/scheduler/sim"
	"github.com/logos-llm/logos/store"
)

// e2eProfile is the reference node (logos-2x16) with the three models of
// the generated hw3-like traces, without transition jitter and without the
// simulator's fixed gateway overhead (the real gateway's own overhead is
// what the replay measures).
func e2eProfile(t *testing.T) *sim.Profile {
	t.Helper()
	p, err := sim.LoadProfile("logos-2x16")
	if err != nil {
		t.Fatal(err)
	}
	p = p.Clone()
	n := &p.Nodes[0]
	n.GatewayOverheadMS = 0.001 // 0 means the default 300 ms
	var ms []sim.ModelProfile
	for _, m := range n.Models {
		if strings.Contains(m.Name, "deepseek") {
			continue
		}
		m.JitterSigma = 0
		ms = append(ms, m)
	}
	n.Models = ms
	return p
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
func msDur(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

// e2eResult is one replay's figures, in trace seconds.
type e2eResult struct {
	ttft              []float64
	p50, p95          float64
	failed            int
	tiers             map[string]int
	records, recCold  int
	wakes, sleeps     int
	refused, maxUsed  int
	nodeVRAM          int
	recordsSucceeding int
}

// replay sends trace tr, time-compressed by factor, through a Router whose
// scheduler is policy on an Adapter, in front of a fake GPU node with the
// physics of prof, and measures each request's TTFT at the client.
func replay(t *testing.T, prof *sim.Profile, tr *sim.Trace, policy core.Policy, factor float64, seed uint64) e2eResult {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := &prof.Nodes[0]
	vram := 0
	for _, g := range n.GPUs {
		vram += g.VRAMMB
	}
	var models []providertest.GPUModel
	profiles := map[string]lifecycle.Profile{}
	for _, m := range n.Models {
		models = append(models, providertest.GPUModel{Name: m.Name, AwakeMB: m.AwakeMB, SleepMB: m.SleepResidualMB,
			Load: secs(m.ColdLoadS), Wake: secs(m.WakeS), Sleep: secs(m.SleepS), Unload: secs(m.UnloadS),
			StepTime: msDur(m.StepAlphaMS), StepPerSeq: msDur(m.StepBetaMS), PrefillPerToken: msDur(m.PrefillMSPerTok),
			State: m.InitialState})
		profiles[m.Name] = lifecycle.Profile{AwakeMB: m.AwakeMB, SleepMB: m.SleepResidualMB, Wake: secs(m.WakeS),
			Sleep: secs(m.SleepS), Load: secs(m.ColdLoadS), Unload: secs(m.UnloadS),
			StepTime: msDur(m.StepAlphaMS), StepPerSeq: msDur(m.StepBetaMS)}
	}
	node := providertest.NewGPUNode(t, providertest.GPUNodeConfig{VRAMMB: vram, Models: models, TimeFactor: factor, Colocation: prof.Colocation})
	adapter := core.NewAdapter(policy, core.AdapterConfig{Clock: clock.Scaled(factor), Tick: 10 * time.Second, Logger: quiet})
	t.Cleanup(func() { _ = adapter.Close() })
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *logos.Config) {
		c.Scheduler = adapter
		c.Registerer = reg
		c.LaneProfiles = profiles
		c.QueueTimeout = 1200 * time.Second
		c.MaxQueueTimeout = 1200 * time.Second
	})
	for _, m := range n.Models {
		srv := node.VLLM(m.Name)
		e.deploy(m.Name, providers.Target{Kind: providers.KindOpenAICompatible, BaseURL: srv.URL + "/v1", UpstreamModel: m.Name},
			func(p *store.Provider, _ *store.Deployment) {
				p.Name = "vllm-" + m.Name
				p.AdminURL, p.SleepMode, p.TotalVRAMMB = srv.URL+"/metrics", true, int64(vram)
				p.PollInterval = 20 * time.Millisecond
			})
	}
	// Requests may ask for any priority: the key's process is high.
	ctx := context.Background()
	procs, err := e.store.ListProcesses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	procs[0].Priority = int(scheduler.PriorityHigh)
	if _, err := e.store.UpdateProcess(ctx, procs[0]); err != nil {
		t.Fatal(err)
	}
	e.reload()
	// The lanes start as the first polls of the vLLM servers report.
	for deadline := time.Now().Add(10 * time.Second); ; {
		mfs, _ := reg.Gather()
		polled := 0
		for _, mf := range mfs {
			if mf.GetName() == "logos_provider_polls_total" {
				for _, m := range mf.GetMetric() {
					if m.GetCounter().GetValue() > 0 {
						polled++
					}
				}
			}
		}
		if polled >= len(n.Models) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d providers polled", polled, len(n.Models))
		}
		time.Sleep(5 * time.Millisecond)
	}

	res := e2eResult{ttft: make([]float64, len(tr.Rows)), tiers: map[string]int{}, nodeVRAM: vram}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	client := &http.Client{}
	for i := range tr.Rows {
		row := &tr.Rows[i]
		at := start.Add(time.Duration(float64(row.ArrivalMS) * float64(time.Millisecond) / factor))
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := sim.OutputTokens(row.ID, row.MaxTokens, seed, 0.65)
			content := strings.Repeat("w", max(row.PromptTokens-7, 1)*4)
			body, _ := json.Marshal(map[string]any{"model": row.Model, "stream": true, "max_tokens": row.MaxTokens, "min_tokens": out,
				"messages": []map[string]string{{"role": "user", "content": content}}})
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Logos-Priority", strconv.Itoa(int(row.Priority)))
			ttft, tier, ok := func() (time.Duration, string, bool) {
				resp, err := client.Do(req)
				if err != nil {
					return time.Since(at), "", false
				}
				defer resp.Body.Close()
				tier := resp.Header.Get("X-Logos-Tier")
				if resp.StatusCode != http.StatusOK {
					b, _ := io.ReadAll(resp.Body)
					t.Logf("%s: status %d: %s", row.ID, resp.StatusCode, b)
					return time.Since(at), tier, false
				}
				sc := bufio.NewScanner(resp.Body)
				var first time.Duration
				for sc.Scan() {
					if first == 0 && strings.Contains(sc.Text(), `"content"`) {
						first = time.Since(at)
					}
				}
				return first, tier, first > 0 && sc.Err() == nil
			}()
			mu.Lock()
			defer mu.Unlock()
			res.ttft[i] = ttft.Seconds() * factor
			res.tiers[tier]++
			if !ok {
				res.failed++
			}
		}()
	}
	wg.Wait()
	recs := e.usage()
	res.records = len(recs)
	for _, r := range recs {
		if r.ColdStart {
			res.recCold++
		}
		if r.Outcome == store.OutcomeSuccess {
			res.recordsSucceeding++
		}
	}
	// The admin API shows the scheduler's lanes: the node's models are each
	// awake or asleep as the node says, none in transition after the replay.
	code, _, body := e.do(http.MethodGet, "/logosdb/scheduler_state", "")
	var state struct {
		Deployments map[string]struct {
			ModelName     string `json:"model_name"`
			SchedulerLane string `json:"scheduler_lane"`
		} `json:"deployments"`
	}
	if err := json.Unmarshal(body, &state); code != http.StatusOK || err != nil || len(state.Deployments) != len(n.Models) {
		t.Errorf("scheduler_state: %d %s", code, body)
	}
	for _, d := range state.Deployments {
		if want := node.State(d.ModelName); d.SchedulerLane != want {
			t.Errorf("scheduler_state says %s is %q; the node says %q", d.ModelName, d.SchedulerLane, want)
		}
	}
	st := node.Stats()
	res.wakes, res.sleeps, res.refused, res.maxUsed = st.Wakes, st.Sleeps, st.Refused, st.MaxUsedMB
	res.p50, res.p95 = sim.Percentile(res.ttft, 50), sim.Percentile(res.ttft, 95)
	return res
}

// TestLifecycleReplayAgainstSimulator replays a generated hw3-like trace
// (150 requests in 10 minutes, seeded) through a real Router on a fake GPU
// node with the reference node's physics, time-compressed, with the fcfs
// and logos schedulers, and runs the same trace and physics through the
// simulator. It asserts what must hold whatever the timing of the machine:
// every request answered, one usage record per request, the node's memory
// never exceeded, a cold start recorded for every request whose response
// said it waited for a wake. The TTFT figures are logged (docs/live.md),
// not asserted: wall-clock timing on a shared machine is not a test.
//
// LOGOS_E2E_FACTOR sets the time compression (default 20: a 10-minute
// trace takes 30 s per scheduler).
func TestLifecycleReplayAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a 10-minute trace time-compressed")
	}
	factor := 20.0
	if v, err := strconv.ParseFloat(os.Getenv("LOGOS_E2E_FACTOR"), 64); err == nil && v > 0 {
		factor = v
	}
	const seed = 1
	var csv bytes.Buffer
	if err := sim.Generate(&csv, sim.GenConfig{N: 150, Seed: 42}); err != nil {
		t.Fatal(err)
	}
	tr, err := sim.ParseTrace("gen-hw3-150-seed42", csv.Bytes(), sim.DefaultClasses())
	if err != nil {
		t.Fatal(err)
	}
	prof := e2eProfile(t)
	policies := map[string]func() core.Policy{
		"fcfs":  func() core.Policy { return baselines.NewFCFS() },
		"logos": func() core.Policy { return logospolicy.New(logospolicy.Config{}) },
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| scheduler | run | TTFT p50 (s) | TTFT p95 (s) | wakes | sleeps | failed |\n|---|---|---|---|---|---|---|\n")
	for _, name := range []string{"fcfs", "logos"} {
		t.Run(name, func(t *testing.T) {
			r := replay(t, prof, tr, policies[name](), factor, seed)
			sr, err := sim.Run(sim.Config{Profile: prof, Trace: tr, Policy: policies[name](), Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			s := sim.Summarize(sr)
			fmt.Fprintf(&table, "| %s | end-to-end (×%g) | %.1f | %.1f | %d | %d | %d |\n", name, factor, r.p50, r.p95, r.wakes, r.sleeps, r.failed)
			fmt.Fprintf(&table, "| %s | simulator | %.1f | %.1f | %d | %d | %d |\n", name, s.TTFT.P50, s.TTFT.P95, s.Wakes, s.Sleeps, s.Failed)
			t.Logf("%s: end-to-end p50 %.1f s p95 %.1f s (ratio to simulator %.2f / %.2f); tiers %v; cold-start records %d; node refused %d, max %d of %d MB",
				name, r.p50, r.p95, r.p50/s.TTFT.P50, r.p95/s.TTFT.P95, r.tiers, r.recCold, r.refused, r.maxUsed, r.nodeVRAM)
			if r.failed != 0 {
				t.Errorf("%d of %d requests failed", r.failed, len(tr.Rows))
			}
			if r.records != len(tr.Rows) || r.recordsSucceeding != len(tr.Rows) {
				t.Errorf("usage records = %d (%d succeeded), want %d", r.records, r.recordsSucceeding, len(tr.Rows))
			}
			if r.maxUsed > r.nodeVRAM || r.refused != 0 {
				t.Errorf("the node refused %d transitions or requests and reserved up to %d of %d MB", r.refused, r.maxUsed, r.nodeVRAM)
			}
			if r.wakes == 0 {
				t.Errorf("no wake reached the node: the lifecycle actions were not executed")
			}
			if want := r.tiers[scheduler.TierSleeping] + r.tiers[scheduler.TierCold]; r.recCold != want {
				t.Errorf("cold-start records = %d, responses with tier sleeping or cold = %d", r.recCold, want)
			}
		})
	}
	t.Logf("\n%s", table.String())
}
