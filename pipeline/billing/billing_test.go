package billing

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

var tokenTypes = []store.TokenType{
	{ID: 1, Name: "prompt_tokens"},
	{ID: 2, Name: "completion_tokens"},
	{ID: 3, Name: "total_tokens"},
	{ID: 4, Name: "prompt_cached_tokens"},
	{ID: 5, Name: "completion_reasoning_tokens"},
	{ID: 6, Name: "prompt_audio_tokens"},
	{ID: 7, Name: "completion_audio_tokens"},
	{ID: 8, Name: "completion_accepted_prediction_tokens"},
	{ID: 9, Name: "completion_rejected_prediction_tokens"},
	{ID: 10, Name: "audio_milliseconds"},
	{ID: 11, Name: "image_tokens"},
}

func typeID(name string) int64 {
	for _, tt := range tokenTypes {
		if tt.Name == name {
			return tt.ID
		}
	}
	panic("unknown token type " + name)
}

var (
	jan1  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	jan10 = time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC)
	jan15 = time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)
	jan20 = time.Date(2025, 1, 20, 12, 0, 0, 0, time.UTC)
	feb1  = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
)

const (
	model    = 7
	provider = 3
)

// pr builds a price; IDs are assigned in order by the table runner when zero.
func pr(typ string, modelID, providerID int64, from time.Time, micros int64, cur string) store.Price {
	return store.Price{TokenTypeID: typeID(typ), ModelID: modelID, ProviderID: providerID,
		ValidFrom: from, MicrosPerMillion: micros, Currency: cur}
}

func eur(typ string, from time.Time, micros int64) store.Price {
	return pr(typ, 0, 0, from, micros, "EUR")
}

// tc builds token counts from alternating names and counts.
func tc(kv ...any) []store.TokenCount {
	var ts []store.TokenCount
	for i := 0; i < len(kv); i += 2 {
		ts = append(ts, store.TokenCount{Type: kv[i].(string), Count: int64(kv[i+1].(int))})
	}
	return ts
}

// Standard generic EUR prices: 1 µ per prompt token, 4 per completion token,
// 0.25 per cached token, 8 per reasoning token.
var (
	pPrompt     = eur("prompt_tokens", jan1, 1_000_000)
	pCompletion = eur("completion_tokens", jan1, 4_000_000)
	pCached     = eur("prompt_cached_tokens", jan1, 250_000)
	pReasoning  = eur("completion_reasoning_tokens", jan1, 8_000_000)
)

type costCase struct {
	name      string
	prices    []store.Price
	at        time.Time
	model     int64 // defaults to the model constant unless noModel
	provider  int64 // defaults to the provider constant unless noProvider
	noModel   bool
	noProv    bool
	tokens    []store.TokenCount
	want      []int64 // CostMicros per token count
	wantTotal int64
	wantCur   string
	wantErr   error
}

func runCostCases(t *testing.T, cases []costCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prices := slices.Clone(c.prices)
			for i := range prices {
				if prices[i].ID == 0 {
					prices[i].ID = int64(i + 1)
				}
			}
			m, p := c.model, c.provider
			if m == 0 && !c.noModel {
				m = model
			}
			if p == 0 && !c.noProv {
				p = provider
			}
			at := c.at
			if at.IsZero() {
				at = jan10
			}
			b := NewPriceBook(prices, tokenTypes)
			got, total, cur, err := b.Cost(at, m, p, c.tokens)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				if got != nil || total != 0 || cur != "" {
					t.Fatalf("on error got %v, %d, %q; want nothing priced", got, total, cur)
				}
				return
			}
			if err != nil {
				t.Fatalf("Cost: %v", err)
			}
			if len(got) != len(c.tokens) {
				t.Fatalf("got %d token counts, want %d", len(got), len(c.tokens))
			}
			costs := make([]int64, len(got))
			for i, g := range got {
				if g.Type != c.tokens[i].Type || g.Count != c.tokens[i].Count {
					t.Errorf("token %d = %+v, want type and count of %+v", i, g, c.tokens[i])
				}
				costs[i] = g.CostMicros
			}
			if c.want != nil && !slices.Equal(costs, c.want) {
				t.Errorf("costs = %v, want %v", costs, c.want)
			}
			if total != c.wantTotal {
				t.Errorf("total = %d, want %d", total, c.wantTotal)
			}
			if cur != c.wantCur {
				t.Errorf("currency = %q, want %q", cur, c.wantCur)
			}
		})
	}
}

func TestCostValidity(t *testing.T) {
	change := eur("prompt_tokens", jan15, 2_000_000)
	runCostCases(t, []costCase{
		{name: "no prices at all", tokens: tc("prompt_tokens", 100),
			want: []int64{0}, wantTotal: 0, wantCur: ""},
		{name: "no tokens", prices: []store.Price{pPrompt}, tokens: nil, wantTotal: 0, wantCur: ""},
		{name: "before the first price is free", prices: []store.Price{pPrompt},
			at: jan1.Add(-time.Nanosecond), tokens: tc("prompt_tokens", 100),
			want: []int64{0}, wantTotal: 0, wantCur: ""},
		{name: "exactly at ValidFrom", prices: []store.Price{pPrompt},
			at: jan1, tokens: tc("prompt_tokens", 100),
			want: []int64{100}, wantTotal: 100, wantCur: "EUR"},
		{name: "exactly at ValidFrom in another time zone", prices: []store.Price{pPrompt},
			at: jan1.In(time.FixedZone("CET", 3600)), tokens: tc("prompt_tokens", 100),
			want: []int64{100}, wantTotal: 100, wantCur: "EUR"},
		{name: "just before a change keeps the old price", prices: []store.Price{pPrompt, change},
			at: jan15.Add(-time.Nanosecond), tokens: tc("prompt_tokens", 100),
			want: []int64{100}, wantTotal: 100, wantCur: "EUR"},
		{name: "at a change takes the new price", prices: []store.Price{pPrompt, change},
			at: jan15, tokens: tc("prompt_tokens", 100),
			want: []int64{200}, wantTotal: 200, wantCur: "EUR"},
		{name: "latest ValidFrom wins regardless of input order",
			prices: []store.Price{change, eur("prompt_tokens", jan10, 3_000_000), pPrompt},
			at:     jan20, tokens: tc("prompt_tokens", 100),
			want: []int64{200}, wantTotal: 200, wantCur: "EUR"},
		{name: "future price is not yet valid",
			prices: []store.Price{pPrompt, eur("prompt_tokens", feb1, 9_000_000)},
			at:     jan20, tokens: tc("prompt_tokens", 100),
			want: []int64{100}, wantTotal: 100, wantCur: "EUR"},
		{name: "same scope and ValidFrom: highest ID wins",
			prices: []store.Price{
				{ID: 9, TokenTypeID: 1, ValidFrom: jan1, MicrosPerMillion: 5_000_000, Currency: "EUR"},
				{ID: 4, TokenTypeID: 1, ValidFrom: jan1, MicrosPerMillion: 3_000_000, Currency: "EUR"},
			},
			tokens: tc("prompt_tokens", 100), want: []int64{500}, wantTotal: 500, wantCur: "EUR"},
		{name: "price of an unknown token type is ignored",
			prices: []store.Price{{TokenTypeID: 99, ValidFrom: jan1, MicrosPerMillion: 1_000_000, Currency: "USD"}, pPrompt},
			tokens: tc("prompt_tokens", 100), want: []int64{100}, wantTotal: 100, wantCur: "EUR"},
		{name: "token type without a price costs 0",
			prices: []store.Price{pPrompt},
			tokens: tc("prompt_tokens", 100, "image_tokens", 50),
			want:   []int64{100, 0}, wantTotal: 100, wantCur: "EUR"},
		{name: "other priced token type is charged on its own",
			prices: []store.Price{pPrompt, eur("audio_milliseconds", jan1, 100_000_000)},
			tokens: tc("prompt_tokens", 100, "audio_milliseconds", 3),
			want:   []int64{100, 300}, wantTotal: 400, wantCur: "EUR"},
	})
}

func TestCostScopePrecedence(t *testing.T) {
	generic := eur("prompt_tokens", jan1, 1_000_000)
	prov := pr("prompt_tokens", 0, provider, jan1, 2_000_000, "EUR")
	mod := pr("prompt_tokens", model, 0, jan1, 3_000_000, "EUR")
	both := pr("prompt_tokens", model, provider, jan1, 4_000_000, "EUR")
	otherModel := pr("prompt_tokens", model+1, 0, jan10, 50_000_000, "EUR")
	otherProv := pr("prompt_tokens", 0, provider+1, jan10, 60_000_000, "EUR")
	otherBoth := pr("prompt_tokens", model, provider+1, jan10, 70_000_000, "EUR")
	tokens := tc("prompt_tokens", 1000)
	cost := func(micros int64) []int64 { return []int64{micros / 1000} }
	runCostCases(t, []costCase{
		{name: "model and provider beat model", prices: []store.Price{generic, prov, mod, both},
			tokens: tokens, want: cost(4_000_000), wantTotal: 4000, wantCur: "EUR"},
		{name: "model beats provider", prices: []store.Price{generic, prov, mod},
			tokens: tokens, want: cost(3_000_000), wantTotal: 3000, wantCur: "EUR"},
		{name: "provider beats generic", prices: []store.Price{generic, prov},
			tokens: tokens, want: cost(2_000_000), wantTotal: 2000, wantCur: "EUR"},
		{name: "generic alone", prices: []store.Price{generic},
			tokens: tokens, want: cost(1_000_000), wantTotal: 1000, wantCur: "EUR"},
		{name: "prices of another model or provider never apply",
			prices: []store.Price{generic, otherModel, otherProv, otherBoth},
			at:     jan20, tokens: tokens, want: cost(1_000_000), wantTotal: 1000, wantCur: "EUR"},
		{name: "scope beats recency",
			prices: []store.Price{mod, eur("prompt_tokens", jan15, 9_000_000)},
			at:     jan20, tokens: tokens, want: cost(3_000_000), wantTotal: 3000, wantCur: "EUR"},
		{name: "latest within the winning scope",
			prices: []store.Price{generic, mod, pr("prompt_tokens", model, 0, jan15, 5_000_000, "EUR")},
			at:     jan20, tokens: tokens, want: cost(5_000_000), wantTotal: 5000, wantCur: "EUR"},
		{name: "specific price not yet valid falls back to generic",
			prices: []store.Price{generic, pr("prompt_tokens", model, provider, jan15, 9_000_000, "EUR")},
			at:     jan10, tokens: tokens, want: cost(1_000_000), wantTotal: 1000, wantCur: "EUR"},
		{name: "unknown model: provider beats generic, model prices do not apply",
			prices: []store.Price{generic, prov, mod, both}, noModel: true,
			tokens: tokens, want: cost(2_000_000), wantTotal: 2000, wantCur: "EUR"},
		{name: "unknown provider: model beats generic",
			prices: []store.Price{generic, prov, both, mod}, noProv: true,
			tokens: tokens, want: cost(3_000_000), wantTotal: 3000, wantCur: "EUR"},
		{name: "unknown model and provider: generic only",
			prices: []store.Price{generic, prov, mod, both}, noModel: true, noProv: true,
			tokens: tokens, want: cost(1_000_000), wantTotal: 1000, wantCur: "EUR"},
		{name: "scope is chosen per token type",
			prices: []store.Price{generic, pCompletion, pr("completion_tokens", 0, provider, jan1, 6_000_000, "EUR")},
			tokens: tc("prompt_tokens", 1000, "completion_tokens", 1000),
			want:   []int64{1000, 6000}, wantTotal: 7000, wantCur: "EUR"},
	})
}

func TestCostDerivedTokens(t *testing.T) {
	all := []store.Price{pPrompt, pCompletion, pCached, pReasoning}
	runCostCases(t, []costCase{
		{name: "total_tokens is never charged",
			prices: []store.Price{pPrompt, pCompletion, eur("total_tokens", jan1, 10_000_000)},
			tokens: tc("prompt_tokens", 100, "completion_tokens", 50, "total_tokens", 150),
			want:   []int64{100, 200, 0}, wantTotal: 300, wantCur: "EUR"},
		{name: "a total_tokens price sets no currency",
			prices: []store.Price{pr("total_tokens", 0, 0, jan1, 10_000_000, "USD")},
			tokens: tc("prompt_tokens", 100, "total_tokens", 100),
			want:   []int64{0, 0}, wantTotal: 0, wantCur: ""},
		{name: "cached tokens with their own price",
			prices: all,
			tokens: tc("prompt_tokens", 1000, "prompt_cached_tokens", 400, "total_tokens", 1000),
			want:   []int64{600, 100, 0}, wantTotal: 700, wantCur: "EUR"},
		{name: "cached tokens listed before prompt tokens",
			prices: all,
			tokens: tc("prompt_cached_tokens", 400, "prompt_tokens", 1000),
			want:   []int64{100, 600}, wantTotal: 700, wantCur: "EUR"},
		{name: "cached tokens without a price are charged once, as prompt tokens",
			prices: []store.Price{pPrompt, pCompletion},
			tokens: tc("prompt_tokens", 1000, "prompt_cached_tokens", 400),
			want:   []int64{1000, 0}, wantTotal: 1000, wantCur: "EUR"},
		{name: "cached price not yet valid",
			prices: []store.Price{pPrompt, eur("prompt_cached_tokens", jan15, 250_000)},
			at:     jan10, tokens: tc("prompt_tokens", 1000, "prompt_cached_tokens", 400),
			want: []int64{1000, 0}, wantTotal: 1000, wantCur: "EUR"},
		{name: "cached price without a prompt price",
			prices: []store.Price{pCached},
			tokens: tc("prompt_tokens", 1000, "prompt_cached_tokens", 400),
			want:   []int64{0, 100}, wantTotal: 100, wantCur: "EUR"},
		{name: "cached tokens exceeding prompt tokens leave nothing to charge at the prompt price",
			prices: all,
			tokens: tc("prompt_tokens", 100, "prompt_cached_tokens", 400),
			want:   []int64{0, 100}, wantTotal: 100, wantCur: "EUR"},
		{name: "zero cached tokens",
			prices: all,
			tokens: tc("prompt_tokens", 1000, "prompt_cached_tokens", 0),
			want:   []int64{1000, 0}, wantTotal: 1000, wantCur: "EUR"},
		{name: "reasoning tokens with their own price",
			prices: all,
			tokens: tc("completion_tokens", 500, "completion_reasoning_tokens", 200),
			want:   []int64{1200, 1600}, wantTotal: 2800, wantCur: "EUR"},
		{name: "reasoning tokens without a price are charged once, as completion tokens",
			prices: []store.Price{pPrompt, pCompletion, pCached},
			tokens: tc("completion_tokens", 500, "completion_reasoning_tokens", 200),
			want:   []int64{2000, 0}, wantTotal: 2000, wantCur: "EUR"},
		{name: "cached and reasoning do not cross parents",
			prices: all,
			tokens: tc("prompt_tokens", 1000, "completion_tokens", 500,
				"prompt_cached_tokens", 400, "completion_reasoning_tokens", 200, "total_tokens", 1500),
			want:      []int64{600, 1200, 100, 1600, 0},
			wantTotal: 3500, wantCur: "EUR"},
		{name: "several priced prompt subsets are all deducted",
			prices: append(slices.Clone(all), eur("prompt_audio_tokens", jan1, 10_000_000)),
			tokens: tc("prompt_tokens", 1000, "prompt_cached_tokens", 400, "prompt_audio_tokens", 100),
			want:   []int64{500, 100, 1000}, wantTotal: 1600, wantCur: "EUR"},
		{name: "unpriced prompt subset is not deducted",
			prices: all,
			tokens: tc("prompt_tokens", 1000, "prompt_cached_tokens", 400, "prompt_audio_tokens", 100),
			want:   []int64{600, 100, 0}, wantTotal: 700, wantCur: "EUR"},
		{name: "completion audio and prediction tokens are subsets of completion tokens",
			prices: append(slices.Clone(all),
				eur("completion_audio_tokens", jan1, 20_000_000),
				eur("completion_accepted_prediction_tokens", jan1, 2_000_000)),
			tokens: tc("completion_tokens", 1000, "completion_audio_tokens", 100,
				"completion_accepted_prediction_tokens", 300, "completion_rejected_prediction_tokens", 50),
			want:      []int64{2400, 2000, 600, 0},
			wantTotal: 5000, wantCur: "EUR"},
		{name: "repeated parent: the deduction is taken in order",
			prices: all,
			tokens: tc("prompt_tokens", 300, "prompt_tokens", 300, "prompt_cached_tokens", 400),
			want:   []int64{0, 200, 100}, wantTotal: 300, wantCur: "EUR"},
		{name: "scoped cached price",
			prices: []store.Price{pPrompt, pr("prompt_cached_tokens", model, 0, jan1, 500_000, "EUR")},
			tokens: tc("prompt_tokens", 1000, "prompt_cached_tokens", 400),
			want:   []int64{600, 200}, wantTotal: 800, wantCur: "EUR"},
	})
}

func TestCostCurrencies(t *testing.T) {
	usd := func(typ string) store.Price { return pr(typ, 0, 0, jan1, 1_000_000, "USD") }
	runCostCases(t, []costCase{
		{name: "one currency", prices: []store.Price{usd("prompt_tokens"), usd("completion_tokens")},
			tokens: tc("prompt_tokens", 10, "completion_tokens", 20),
			want:   []int64{10, 20}, wantTotal: 30, wantCur: "USD"},
		{name: "mixed currencies", prices: []store.Price{pPrompt, usd("completion_tokens")},
			tokens:  tc("prompt_tokens", 10, "completion_tokens", 20),
			wantErr: ErrMixedCurrencies},
		{name: "mixed through a cached price", prices: []store.Price{pPrompt, usd("prompt_cached_tokens")},
			tokens:  tc("prompt_tokens", 10, "prompt_cached_tokens", 5),
			wantErr: ErrMixedCurrencies},
		{name: "mixed even when the parent has nothing left to charge",
			prices:  []store.Price{pPrompt, usd("prompt_cached_tokens")},
			tokens:  tc("prompt_tokens", 5, "prompt_cached_tokens", 5),
			wantErr: ErrMixedCurrencies},
		{name: "mixed across scopes",
			prices:  []store.Price{pPrompt, pCompletion, pr("completion_tokens", model, 0, jan1, 1, "USD")},
			tokens:  tc("prompt_tokens", 10, "completion_tokens", 20),
			wantErr: ErrMixedCurrencies},
		{name: "a currency change over time is fine per request",
			prices: []store.Price{pPrompt, pCompletion,
				pr("prompt_tokens", 0, 0, jan15, 1_000_000, "USD"), pr("completion_tokens", 0, 0, jan15, 1_000_000, "USD")},
			at: jan20, tokens: tc("prompt_tokens", 10, "completion_tokens", 20),
			want: []int64{10, 20}, wantTotal: 30, wantCur: "USD"},
		{name: "unselected prices of another currency do not matter",
			prices: []store.Price{pPrompt, usd("completion_tokens"), usd("total_tokens"),
				pr("prompt_tokens", model+1, 0, jan1, 1, "USD")},
			tokens: tc("prompt_tokens", 10, "total_tokens", 10),
			want:   []int64{10, 0}, wantTotal: 10, wantCur: "EUR"},
		{name: "unpriced tokens set no currency",
			prices: []store.Price{usd("completion_tokens")},
			tokens: tc("prompt_tokens", 10, "completion_tokens", 20, "image_tokens", 3),
			want:   []int64{0, 20, 0}, wantTotal: 20, wantCur: "USD"},
		{name: "a zero-cost price still sets the currency",
			prices: []store.Price{pr("prompt_tokens", 0, 0, jan1, 0, "CHF")},
			tokens: tc("prompt_tokens", 10),
			want:   []int64{0}, wantTotal: 0, wantCur: "CHF"},
	})
}

func TestCostArithmetic(t *testing.T) {
	at := func(micros int64) []store.Price { return []store.Price{eur("prompt_tokens", jan1, micros)} }
	runCostCases(t, []costCase{
		{name: "half rounds up", prices: at(500_000), tokens: tc("prompt_tokens", 1),
			want: []int64{1}, wantTotal: 1, wantCur: "EUR"},
		{name: "below half rounds down", prices: at(499_999), tokens: tc("prompt_tokens", 1),
			want: []int64{0}, wantTotal: 0, wantCur: "EUR"},
		{name: "one and a half rounds up", prices: at(500_000), tokens: tc("prompt_tokens", 3),
			want: []int64{2}, wantTotal: 2, wantCur: "EUR"},
		{name: "sub-micro price", prices: at(1), tokens: tc("prompt_tokens", 1_500_000),
			want: []int64{2}, wantTotal: 2, wantCur: "EUR"},
		{name: "total is the sum of the rounded costs",
			prices: []store.Price{eur("prompt_tokens", jan1, 500_000), eur("completion_tokens", jan1, 500_000)},
			tokens: tc("prompt_tokens", 1, "completion_tokens", 1),
			want:   []int64{1, 1}, wantTotal: 2, wantCur: "EUR"},
		{name: "rounding after the deduction",
			prices: []store.Price{eur("prompt_tokens", jan1, 500_000), eur("prompt_cached_tokens", jan1, 500_000)},
			tokens: tc("prompt_tokens", 4, "prompt_cached_tokens", 1),
			want:   []int64{2, 1}, wantTotal: 3, wantCur: "EUR"},
		{name: "huge count needs 128 bits", prices: at(1_000_000),
			tokens: []store.TokenCount{{Type: "prompt_tokens", Count: math.MaxInt64}},
			want:   []int64{math.MaxInt64}, wantTotal: math.MaxInt64, wantCur: "EUR"},
		{name: "huge count and huge price", prices: at(1_000_000_000_000),
			tokens: []store.TokenCount{{Type: "prompt_tokens", Count: 1_000_000_000_000}},
			want:   []int64{1_000_000_000_000_000_000}, wantTotal: 1_000_000_000_000_000_000, wantCur: "EUR"},
		{name: "cost beyond int64 is an error", prices: at(2_000_000),
			tokens:  []store.TokenCount{{Type: "prompt_tokens", Count: math.MaxInt64}},
			wantErr: ErrOverflow},
		{name: "total beyond int64 is an error",
			prices: []store.Price{eur("prompt_tokens", jan1, 1_000_000), eur("completion_tokens", jan1, 1_000_000)},
			tokens: []store.TokenCount{{Type: "prompt_tokens", Count: math.MaxInt64/2 + 1},
				{Type: "completion_tokens", Count: math.MaxInt64/2 + 1}},
			wantErr: ErrOverflow},
		{name: "huge subsets saturate the deduction",
			prices: []store.Price{pPrompt, pCached, eur("prompt_audio_tokens", jan1, 0)},
			tokens: []store.TokenCount{{Type: "prompt_tokens", Count: 10},
				{Type: "prompt_cached_tokens", Count: math.MaxInt64}, {Type: "prompt_audio_tokens", Count: math.MaxInt64}},
			want: []int64{0, math.MaxInt64/4 + 1, 0}, wantTotal: math.MaxInt64/4 + 1, wantCur: "EUR"},
		{name: "negative count", prices: at(1_000_000),
			tokens: tc("prompt_tokens", -1), wantErr: ErrNegativeCount},
		{name: "negative count without a price", tokens: tc("image_tokens", -1), wantErr: ErrNegativeCount},
		{name: "negative price", prices: at(-1_000_000),
			tokens: tc("prompt_tokens", 1), wantErr: ErrNegativePrice},
	})
}

// TestPriceChangeMidPeriod bills a month in which the prompt price doubles on
// the 15th: requests either side get different prices, and the records keep
// them even when the book is rebuilt with yet another price later.
func TestPriceChangeMidPeriod(t *testing.T) {
	prices := []store.Price{
		{ID: 1, TokenTypeID: 1, ValidFrom: jan1, MicrosPerMillion: 1_000_000, Currency: "EUR"},
		{ID: 2, TokenTypeID: 1, ValidFrom: jan15, MicrosPerMillion: 2_000_000, Currency: "EUR"},
	}
	b := NewPriceBook(prices, tokenTypes)
	tokens := tc("prompt_tokens", 1000, "total_tokens", 1000)
	var period int64
	want := map[time.Time]int64{jan10: 1000, jan20: 2000}
	for _, at := range []time.Time{jan10, jan20} {
		_, total, cur, err := b.Cost(at, model, provider, tokens)
		if err != nil || cur != "EUR" || total != want[at] {
			t.Fatalf("Cost at %v = %d %q %v, want %d EUR", at, total, cur, err, want[at])
		}
		period += total
	}
	if period != 3000 {
		t.Errorf("period total = %d, want 3000", period)
	}
	// A later retroactive-looking change (a new price from feb1) leaves
	// January's requests priced as before.
	b2 := NewPriceBook(append(slices.Clone(prices),
		store.Price{ID: 3, TokenTypeID: 1, ValidFrom: feb1, MicrosPerMillion: 9_000_000, Currency: "EUR"}), tokenTypes)
	for _, at := range []time.Time{jan10, jan20} {
		if _, total, _, _ := b2.Cost(at, model, provider, tokens); total != want[at] {
			t.Errorf("after a later price, Cost at %v = %d, want %d", at, total, want[at])
		}
	}
}

func TestCostDoesNotMutateInputs(t *testing.T) {
	prices := []store.Price{
		{ID: 2, TokenTypeID: 1, ValidFrom: jan15, MicrosPerMillion: 2_000_000, Currency: "EUR"},
		{ID: 1, TokenTypeID: 1, ValidFrom: jan1, MicrosPerMillion: 1_000_000, Currency: "EUR"},
		{ID: 3, TokenTypeID: 4, ValidFrom: jan1, MicrosPerMillion: 500_000, Currency: "EUR"},
	}
	types := slices.Clone(tokenTypes)
	pricesBefore, typesBefore := slices.Clone(prices), slices.Clone(types)
	b := NewPriceBook(prices, types)
	if !slices.Equal(prices, pricesBefore) || !slices.Equal(types, typesBefore) {
		t.Fatal("NewPriceBook modified its arguments")
	}
	tokens := []store.TokenCount{
		{Type: "prompt_tokens", Count: 1000, CostMicros: 99},
		{Type: "prompt_cached_tokens", Count: 400, CostMicros: 99},
		{Type: "image_tokens", Count: 5, CostMicros: 99},
	}
	before := slices.Clone(tokens)
	got, total, _, err := b.Cost(jan20, model, provider, tokens)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tokens, before) {
		t.Errorf("Cost modified tokens: %v", tokens)
	}
	if &got[0] == &tokens[0] {
		t.Error("Cost returned the input slice")
	}
	if want := []int64{1200, 200, 0}; got[0].CostMicros != want[0] || got[1].CostMicros != want[1] || got[2].CostMicros != want[2] || total != 1400 {
		t.Errorf("got %v total %d; stale input costs must be overwritten", got, total)
	}
	// Changing the caller's price slice after construction does not affect the book.
	prices[0].MicrosPerMillion = 7
	if _, total2, _, _ := b.Cost(jan20, model, provider, tokens); total2 != total {
		t.Errorf("book changed with its input: %d, want %d", total2, total)
	}
}

func TestCostConcurrent(t *testing.T) {
	b := NewPriceBook([]store.Price{pPrompt, pCompletion, pCached, pReasoning}, tokenTypes)
	tokens := tc("prompt_tokens", 1000, "completion_tokens", 500,
		"prompt_cached_tokens", 400, "completion_reasoning_tokens", 200, "total_tokens", 1500)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if _, total, _, err := b.Cost(jan20, model, provider, tokens); err != nil || total != 3500 {
					t.Errorf("total = %d, %v; want 3500", total, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCostOfAgainstBig checks the 128-bit arithmetic against math/big.
func TestCostOfAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	maxI64 := big.NewInt(math.MaxInt64)
	vals := func() int64 {
		switch r.IntN(4) {
		case 0:
			return r.Int64N(1000)
		case 1:
			return r.Int64N(1 << 32)
		case 2:
			return math.MaxInt64 - r.Int64N(1000)
		}
		return r.Int64()
	}
	for range 20000 {
		n, p := vals(), vals()
		want := new(big.Int).Mul(big.NewInt(n), big.NewInt(p))
		want.Add(want, big.NewInt(million/2))
		want.Quo(want, big.NewInt(million))
		got, ok := costOf(n, p)
		if fits := want.Cmp(maxI64) <= 0; ok != fits || ok && got != want.Int64() {
			t.Fatalf("costOf(%d, %d) = %d, %v; want %v (fits %v)", n, p, got, ok, want, fits)
		}
	}
}

func BenchmarkCost(b *testing.B) {
	// A realistic catalogue: generic prices plus model- and provider-specific
	// ones for many models, each with a price history.
	var prices []store.Price
	id := int64(1)
	for m := int64(0); m <= 50; m++ {
		for _, typ := range []string{"prompt_tokens", "completion_tokens", "prompt_cached_tokens", "completion_reasoning_tokens"} {
			for k := range 3 {
				prices = append(prices, store.Price{ID: id, TokenTypeID: typeID(typ), ModelID: m, ProviderID: m % 5,
					ValidFrom: jan1.AddDate(0, k, 0), MicrosPerMillion: 1_000_000 * (m + 1), Currency: "EUR"})
				id++
			}
		}
	}
	book := NewPriceBook(prices, tokenTypes)
	tokens := tc("prompt_tokens", 1200, "completion_tokens", 350, "total_tokens", 1550,
		"prompt_cached_tokens", 1024, "completion_reasoning_tokens", 128)
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := book.Cost(at, 7, 2, tokens); err != nil {
			b.Fatal(err)
		}
	}
}
