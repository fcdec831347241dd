package sim

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

//go:embed profiles/*.json
var builtin embed.FS

// ErrUnknownProfile means a profile name is neither built in nor a file.
var ErrUnknownProfile = errors.New("sim: unknown profile")

// Profile is a cluster and its physics. It is read from JSON; field names
// follow docs/scheduling.md and the spec.
type Profile struct {
	Name        string `json:"name"`
	Version     int    `json:"version"`
	Description string `json:"description,omitempty"`
	// Colocation is φ: k lanes busy at once on shared GPUs each step k^φ
	// times slower.
	Colocation float64        `json:"colocation_slowdown"`
	Nodes      []NodeProfile  `json:"nodes"`
	Cloud      []CloudProfile `json:"cloud"`
}

// NodeProfile is one machine.
type NodeProfile struct {
	ID     string       `json:"id"`
	Engine string       `json:"engine"` // "vllm" or "ollama"
	GPUs   []GPUProfile `json:"gpus"`
	// MaxTransitions bounds concurrent load/wake/sleep/unload; default 1.
	MaxTransitions int `json:"max_concurrent_transitions"`
	// GatewayOverheadMS is added between dispatch and the engine; default 300.
	GatewayOverheadMS float64 `json:"gateway_overhead_ms"`
	// LaneSlots is a hard concurrency cap per lane in the gateway; 0 (the
	// default) leaves it to the scheduler (the engine still caps at
	// max_num_seqs and queues the rest).
	LaneSlots int            `json:"lane_slots"`
	Models    []ModelProfile `json:"models"`
}

// GPUProfile is one GPU.
type GPUProfile struct {
	ID     int `json:"id"`
	VRAMMB int `json:"vram_mb"`
}

// ModelProfile is one model's footprint, transition times and step model on
// a node.
type ModelProfile struct {
	Name            string  `json:"name"`
	TP              int     `json:"tp"`
	AwakeMB         int     `json:"awake_mb"`
	SleepResidualMB int     `json:"sleep_residual_mb"`
	KVTokens        int     `json:"kv_tokens"`
	ColdLoadS       float64 `json:"cold_load_s"`
	WakeS           float64 `json:"wake_s"`
	SleepS          float64 `json:"sleep_s"`
	Sleep2S         float64 `json:"sleep2_s"`
	UnloadS         float64 `json:"unload_s"`
	// JitterSigma is the σ of a lognormal multiplicative jitter on
	// transition times; 0 disables it.
	JitterSigma       float64 `json:"jitter_sigma"`
	StepAlphaMS       float64 `json:"step_alpha_ms"`
	StepBetaMS        float64 `json:"step_beta_ms_per_seq"`
	StepBeta2         float64 `json:"step_beta2"`
	PrefillMSPerTok   float64 `json:"prefill_ms_per_tok"`
	ChunkedPrefill    int     `json:"chunked_prefill_tokens"`
	MaxNumSeqs        int     `json:"max_num_seqs"`
	OllamaNumParallel int     `json:"ollama_num_parallel"`
	// InitialState is "cold", "sleeping" or "awake"; default "cold".
	InitialState string `json:"initial_state"`
}

// CloudProfile is one cloud endpoint.
type CloudProfile struct {
	Name        string   `json:"name"`
	Models      []string `json:"models"`
	RPM         int      `json:"rpm"`
	TPM         int      `json:"tpm"`
	SubwindowS  float64  `json:"subwindow_s"`
	TTFTMedianS float64  `json:"ttft_median_s"`
	TTFTSigma   float64  `json:"ttft_sigma"`
	DecodeTokS  float64  `json:"decode_tok_s"`
	PriceIn     float64  `json:"price_in"`
	PriceOut    float64  `json:"price_out"`
	RetryAfterS float64  `json:"retry_after_s"`
}

// SHA256 returns the hex sha256 of the profile's canonical JSON encoding
// (after defaults), so a modified clone has its own hash.
func (p *Profile) SHA256() string {
	data, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// BuiltinProfiles lists the names of the built-in profiles.
func BuiltinProfiles() []string {
	ents, _ := builtin.ReadDir("profiles")
	var out []string
	for _, e := range ents {
		if n := e.Name(); !strings.HasPrefix(n, "classes-") {
			out = append(out, strings.TrimSuffix(n, ".json"))
		}
	}
	return out
}

// LoadProfile reads a built-in profile by name or a JSON file by path.
func LoadProfile(nameOrFile string) (*Profile, error) {
	data, err := builtin.ReadFile("profiles/" + nameOrFile + ".json")
	if err != nil {
		data, err = os.ReadFile(nameOrFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrUnknownProfile, nameOrFile)
		}
	}
	return ParseProfile(data)
}

// ParseProfile decodes a profile, fills defaults and checks it.
func ParseProfile(data []byte) (*Profile, error) {
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("sim: profile: %w", err)
	}
	if len(p.Nodes) == 0 {
		return nil, errors.New("sim: profile has no nodes")
	}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		if n.MaxTransitions <= 0 {
			n.MaxTransitions = 1
		}
		if n.GatewayOverheadMS == 0 {
			n.GatewayOverheadMS = 300
		}
		if n.Engine == "" {
			n.Engine = "vllm"
		}
		for j := range n.Models {
			m := &n.Models[j]
			if m.TP <= 0 || m.TP > len(n.GPUs) {
				return nil, fmt.Errorf("sim: profile: model %s on node %s: tp %d with %d GPUs", m.Name, n.ID, m.TP, len(n.GPUs))
			}
			if m.MaxNumSeqs <= 0 {
				m.MaxNumSeqs = 256
			}
			if m.ChunkedPrefill <= 0 {
				m.ChunkedPrefill = 2048
			}
			if m.KVTokens <= 0 {
				m.KVTokens = 1 << 30
			}
			if m.Sleep2S == 0 {
				m.Sleep2S = m.SleepS
			}
			if m.OllamaNumParallel <= 0 {
				m.OllamaNumParallel = 4
			}
			switch m.InitialState {
			case "", "cold", "sleeping", "awake":
			default:
				return nil, fmt.Errorf("sim: profile: model %s: initial_state %q", m.Name, m.InitialState)
			}
		}
	}
	for i := range p.Cloud {
		c := &p.Cloud[i]
		if c.SubwindowS <= 0 {
			c.SubwindowS = 10
		}
		if c.TTFTMedianS <= 0 {
			c.TTFTMedianS = 0.6
		}
		if c.TTFTSigma == 0 {
			c.TTFTSigma = 0.5
		}
		if c.DecodeTokS <= 0 {
			c.DecodeTokS = 60
		}
		if c.RetryAfterS <= 0 {
			c.RetryAfterS = 1
		}
	}
	return &p, nil
}

// Clone returns a deep copy, for variants such as the sensitivity grid.
func (p *Profile) Clone() *Profile {
	q := *p
	q.Nodes = make([]NodeProfile, len(p.Nodes))
	for i, n := range p.Nodes {
		n.GPUs = append([]GPUProfile(nil), n.GPUs...)
		n.Models = append([]ModelProfile(nil), n.Models...)
		q.Nodes[i] = n
	}
	q.Cloud = append([]CloudProfile(nil), p.Cloud...)
	return &q
}

// WithSleep returns a copy whose every model sleeps (level 1) in s seconds.
func (p *Profile) WithSleep(s float64) *Profile {
	q := p.Clone()
	for i := range q.Nodes {
		for j := range q.Nodes[i].Models {
			q.Nodes[i].Models[j].SleepS = s
		}
	}
	return q
}

// WithColocation returns a copy with colocation slowdown φ.
func (p *Profile) WithColocation(phi float64) *Profile {
	q := p.Clone()
	q.Colocation = phi
	return q
}
