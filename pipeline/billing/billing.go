// Package billing computes the cost of a request from the catalogue's prices.
//
// Cost is computed once, when a usage record is written, and stored with it, so
// a later price change never rewrites history. A [PriceBook] is built once per
// catalogue snapshot with [NewPriceBook] and answers [PriceBook.Cost] for every
// request; it is immutable and safe for concurrent use.
//
// # Selecting a price
//
// For each token type of a request made at time at on a model and a provider,
// the candidate prices are the prices of that token type with ValidFrom <= at
// (a price is valid from exactly its ValidFrom on; before the first price a token
// type is free). Among the candidates whose scope applies to the request, the
// most specific scope wins, in this order:
//
//  1. ModelID and ProviderID both equal to the request's;
//  2. ModelID equal to the request's, ProviderID 0 (any provider);
//  3. ProviderID equal to the request's, ModelID 0 (any model);
//  4. generic: ModelID 0 and ProviderID 0.
//
// A price naming another model or provider never applies; a request with model
// or provider 0 (unknown) is matched only by prices that leave it 0. Scope beats
// recency: a newer generic price does not override an older model-specific one.
// Within the winning scope the latest ValidFrom wins; between prices with the
// same scope and ValidFrom the one with the highest ID (the last created) wins.
// Prices of token types absent from the catalogue's token types are ignored.
//
// # What is charged
//
// A price's MicrosPerMillion is micro-units of its currency per million tokens.
// The cost of n tokens at price p is n × p / 1,000,000 micro-units, computed in
// 128-bit integer arithmetic (so huge counts never overflow silently) and
// rounded half up, once per token count; the total is the sum of these rounded
// costs. A result that does not fit in an int64 is [ErrOverflow].
//
// Token types relate to each other as the usage extraction flattens them
// (prompt_tokens_details.X → prompt_X, completion_tokens_details.X → completion_X):
//
//   - total_tokens is never charged: it is the sum of the other counts. A price
//     for total_tokens is ignored and does not set the currency.
//   - Every other type named prompt_X (prompt_cached_tokens,
//     prompt_audio_tokens, …) is a subset of prompt_tokens, and every other type
//     named completion_X (completion_reasoning_tokens, completion_audio_tokens,
//     completion_accepted_prediction_tokens,
//     completion_rejected_prediction_tokens, …) is a subset of completion_tokens.
//     A subset with a price of its own is charged at that price, and its count
//     is deducted from its parent, whose remaining count (never below 0) is
//     charged at the parent's price. A subset without a price of its own costs
//     0 and is not deducted: its tokens are charged once, as part of the
//     parent. So prompt_cached_tokens with a cached price are charged at the
//     cached price and prompt_tokens − prompt_cached_tokens at the prompt price;
//     without a cached price all prompt_tokens are charged at the prompt price.
//     If a parent appears more than once, the deduction is taken from its
//     entries in order.
//   - Any other token type is charged on its own at its price, or costs 0
//     without one.
//
// # Currency
//
// A record has one currency. The currency of a cost is the currency of the
// prices selected for it (compared exactly; the admin API stores upper-case
// ISO 4217 codes). If the prices selected for one request have different
// currencies, Cost returns [ErrMixedCurrencies] and prices nothing. Token
// counts without a price do not set a currency; with no price at all the
// currency is "" and the total 0. A price selected for a token count charges
// it and sets the currency even when the count to charge is 0.
package billing

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/logos-llm/logos/store"
)

// Token type names with a role in cost computation (spec §4.8, §7.1).
const (
	TotalTokens      = "total_tokens"
	PromptTokens     = "prompt_tokens"
	CompletionTokens = "completion_tokens"

	promptPrefix     = "prompt_"
	completionPrefix = "completion_"
)

// Errors returned by [PriceBook.Cost]. When Cost fails it prices nothing.
var (
	// ErrMixedCurrencies means the prices selected for one request have
	// different currencies.
	ErrMixedCurrencies = errors.New("billing: prices of one request have different currencies")
	// ErrNegativeCount means a token count is negative.
	ErrNegativeCount = errors.New("billing: negative token count")
	// ErrNegativePrice means the price selected for a token type is negative.
	ErrNegativePrice = errors.New("billing: negative price")
	// ErrOverflow means a cost does not fit in an int64 of micro-units.
	ErrOverflow = errors.New("billing: cost overflows int64 micro-units")
)

// million is the divisor turning a price per million tokens into a price per token.
const million = 1_000_000

// scope is the model and provider a price is restricted to (0 = any).
type scope struct{ model, provider int64 }

// entry is a price reduced to what a lookup needs.
type entry struct {
	validFrom time.Time
	id        int64
	micros    int64
	currency  string
}

// PriceBook answers price lookups from a catalogue's prices and token types.
// It is immutable and safe for concurrent use; build one per catalogue snapshot.
type PriceBook struct {
	// byType indexes prices by token type name, then scope; each slice is
	// sorted latest ValidFrom first (highest ID first among equal ValidFrom).
	byType map[string]map[scope][]entry
}

// NewPriceBook indexes prices by token type name and scope. Prices whose token
// type is not among tokenTypes are ignored. It does not retain or modify its
// arguments.
func NewPriceBook(prices []store.Price, tokenTypes []store.TokenType) *PriceBook {
	names := make(map[int64]string, len(tokenTypes))
	for _, tt := range tokenTypes {
		names[tt.ID] = tt.Name
	}
	b := &PriceBook{byType: make(map[string]map[scope][]entry)}
	for _, p := range prices {
		name, ok := names[p.TokenTypeID]
		if !ok {
			continue
		}
		scopes := b.byType[name]
		if scopes == nil {
			scopes = make(map[scope][]entry)
			b.byType[name] = scopes
		}
		s := scope{p.ModelID, p.ProviderID}
		scopes[s] = append(scopes[s], entry{
			validFrom: p.ValidFrom,
			id:        p.ID,
			micros:    p.MicrosPerMillion,
			currency:  p.Currency,
		})
	}
	for _, scopes := range b.byType {
		for _, es := range scopes {
			slices.SortStableFunc(es, func(a, b entry) int {
				if c := b.validFrom.Compare(a.validFrom); c != 0 {
					return c
				}
				return cmp.Compare(b.id, a.id)
			})
		}
	}
	return b
}

// lookup returns the price of the token type name valid at at for the model
// and provider, or nil if there is none.
func (b *PriceBook) lookup(name string, at time.Time, modelID, providerID int64) *entry {
	scopes := b.byType[name]
	if scopes == nil {
		return nil
	}
	var order [4]scope
	n := 0
	if modelID != 0 && providerID != 0 {
		order[n] = scope{modelID, providerID}
		n++
	}
	if modelID != 0 {
		order[n] = scope{modelID, 0}
		n++
	}
	if providerID != 0 {
		order[n] = scope{0, providerID}
		n++
	}
	n++ // the generic scope {0, 0}
	for _, s := range order[:n] {
		es := scopes[s]
		for j := range es {
			if !es[j].validFrom.After(at) {
				return &es[j]
			}
		}
	}
	return nil
}

// role classifies a token type for cost computation.
type role uint8

const (
	roleOther role = iota
	roleTotal
	rolePrompt
	roleCompletion
	rolePromptPart
	roleCompletionPart
)

func roleOf(name string) role {
	switch {
	case name == TotalTokens:
		return roleTotal
	case name == PromptTokens:
		return rolePrompt
	case name == CompletionTokens:
		return roleCompletion
	case strings.HasPrefix(name, promptPrefix):
		return rolePromptPart
	case strings.HasPrefix(name, completionPrefix):
		return roleCompletionPart
	}
	return roleOther
}

// Cost prices the tokens a request used at time at on modelID and providerID
// following the rules of the package documentation. It returns a copy of
// tokens with CostMicros filled (the cost of the part charged at that token
// type's own price), the total in micro-units, and the currency ("" when
// nothing is priced). It never modifies tokens. On error it returns nil, 0, "".
func (b *PriceBook) Cost(at time.Time, modelID, providerID int64, tokens []store.TokenCount) (priced []store.TokenCount, totalMicros int64, currency string, err error) {
	if len(tokens) == 0 {
		return nil, 0, "", nil
	}
	// First pass: select prices, check counts and currencies, and sum the
	// priced subsets to deduct from their parents.
	var buf [16]*entry
	sel := buf[:0]
	if len(tokens) > len(buf) {
		sel = make([]*entry, 0, len(tokens))
	}
	var promptDeduct, completionDeduct int64
	for _, t := range tokens {
		if t.Count < 0 {
			return nil, 0, "", fmt.Errorf("%w: %s = %d", ErrNegativeCount, t.Type, t.Count)
		}
		r := roleOf(t.Type)
		var e *entry
		if r != roleTotal {
			e = b.lookup(t.Type, at, modelID, providerID)
		}
		sel = append(sel, e)
		if e == nil {
			continue
		}
		if e.micros < 0 {
			return nil, 0, "", fmt.Errorf("%w: %s at %d micros per million", ErrNegativePrice, t.Type, e.micros)
		}
		if currency == "" {
			currency = e.currency
		} else if e.currency != currency {
			return nil, 0, "", fmt.Errorf("%w: %s and %s", ErrMixedCurrencies, currency, e.currency)
		}
		switch r {
		case rolePromptPart:
			promptDeduct = satAdd(promptDeduct, t.Count)
		case roleCompletionPart:
			completionDeduct = satAdd(completionDeduct, t.Count)
		}
	}

	// Second pass: charge.
	priced = slices.Clone(tokens)
	for i := range priced {
		t := &priced[i]
		t.CostMicros = 0
		e := sel[i]
		if e == nil {
			continue
		}
		n := t.Count
		switch roleOf(t.Type) {
		case rolePrompt:
			n, promptDeduct = deduct(n, promptDeduct)
		case roleCompletion:
			n, completionDeduct = deduct(n, completionDeduct)
		}
		c, ok := costOf(n, e.micros)
		if !ok {
			return nil, 0, "", fmt.Errorf("%w: %d %s at %d micros per million", ErrOverflow, n, t.Type, e.micros)
		}
		t.CostMicros = c
		if totalMicros > math.MaxInt64-c {
			return nil, 0, "", fmt.Errorf("%w: total", ErrOverflow)
		}
		totalMicros += c
	}
	return priced, totalMicros, currency, nil
}

// deduct takes up to d from n and returns what remains of each.
func deduct(n, d int64) (rest, left int64) {
	m := min(n, d)
	return n - m, d - m
}

// satAdd adds two non-negative int64s, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// costOf returns n × micros / 1,000,000 rounded half up, for non-negative n
// and micros, and false if it does not fit in an int64.
func costOf(n, micros int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(n), uint64(micros))
	lo, carry := bits.Add64(lo, million/2, 0)
	hi += carry // cannot overflow: n, micros < 2^63 so hi < 2^62
	if hi >= million {
		return 0, false // quotient would not fit in 64 bits
	}
	q, _ := bits.Div64(hi, lo, million)
	if q > math.MaxInt64 {
		return 0, false
	}
	return int64(q), true
}
