// Package ranking maintains the classification weights of models. In Logos the
// accuracy, quality, latency and cost weights are ranks, not measurements: for
// each category the models form one list ordered worst → best, and a model's
// weight is derived from its position, plus any manual feedback an
// administrator gave it. Policy thresholds are expressed in the same space (0 is
// roughly the median model).
//
// # Weights
//
// Position p (0 = worst) of n models has the base score 8p, shifted so that the
// median is 0: for an odd n the middle element, for an even n the floored mean
// of the two middle elements. Two models give −4, 4; three −8, 0, 8; four −12,
// −4, 4, 12. (The original computes 2·int(−2u+4p) with u the number of distinct
// weights; the −4u term is a constant that the re-centring removes, so u never
// matters.)
//
// # Feedback offsets
//
// A model's feedback offset is its weight minus the base score of its position.
// Offsets are not stored anywhere: they are recomputed from the ordered weights
// at the start of every operation, so the weights alone (models.weight_*) carry
// all the state. An operation keeps every offset and re-derives the weights from
// the new positions:
//
//   - Insert puts the new model directly above worse with the offset ⌊(w₀+wₙ₋₁)/2⌋
//     (the mid-range of the old weights, 0 for a list without feedback). If the
//     neighbours' offsets would leave it at or beyond one of them, its weight is
//     clamped to lie strictly between them, so it lands where it was placed.
//   - Feedback adds delta to one model's weight and moves it with bubble swaps
//     while it is out of order; every model it passes takes the base score of
//     its new position plus its own offset (that is, it moves one rank step,
//     8 points, in the opposite direction).
//   - Remove drops the model; the others keep their offsets at their new
//     positions.
//
// Every operation ends by ordering the list by weight (ties by model id, like
// FromWeights) and re-centring it so the median is 0. Because the result is
// fully determined by its weights, FromWeights(l.Weights()) reproduces l: a list
// survives a round trip through the database unchanged.
//
// This follows the original Logos implementation (classification/model_handler.py)
// and reproduces its documented examples exactly. It differs only where the
// original could leave its in-memory list out of weight order (large offsets
// next to an insertion, removal or a passed model), a state the stored weights
// cannot represent: such lists are re-sorted by weight here, and an inserted
// model is clamped between its neighbours rather than ending up below worse.
package ranking

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Step is the distance between the base scores of adjacent positions.
const Step = 8

var (
	// ErrUnknownModel means a model id is not in the list.
	ErrUnknownModel = errors.New("ranking: unknown model")
	// ErrDuplicateModel means a model id is already in the list.
	ErrDuplicateModel = errors.New("ranking: model already ranked")
	// ErrInvalidList means a list is not ordered by weight or repeats a model
	// id, so it cannot be a ranking.
	ErrInvalidList = errors.New("ranking: invalid list")
)

// Entry is one model's weight in one category.
type Entry struct {
	ModelID int64
	Weight  int
}

// List is a category's models ordered worst → best (by non-decreasing weight).
// The methods never modify their receiver; they return a new List.
type List []Entry

// FromWeights orders models by weight, ties by id, into a List. The weights are
// taken as they are (not re-centred).
func FromWeights(m map[int64]int) List {
	l := make(List, 0, len(m))
	for id, w := range m {
		l = append(l, Entry{ModelID: id, Weight: w})
	}
	slices.SortFunc(l, compareEntries)
	return l
}

// Weights returns model id → weight.
func (l List) Weights() map[int64]int {
	m := make(map[int64]int, len(l))
	for _, e := range l {
		m[e.ModelID] = e.Weight
	}
	return m
}

// Index returns the position of id (0 = worst), or -1 if id is not ranked.
func (l List) Index(id int64) int {
	return slices.IndexFunc(l, func(e Entry) bool { return e.ModelID == id })
}

// Validate reports whether l is a well-formed ranking: weights non-decreasing
// and every model id once. The error wraps ErrInvalidList.
func (l List) Validate() error {
	seen := make(map[int64]struct{}, len(l))
	for i, e := range l {
		if _, dup := seen[e.ModelID]; dup {
			return fmt.Errorf("%w: model %d appears twice", ErrInvalidList, e.ModelID)
		}
		seen[e.ModelID] = struct{}{}
		if i > 0 && e.Weight < l[i-1].Weight {
			return fmt.Errorf("%w: model %d (weight %d) is listed above model %d (weight %d)",
				ErrInvalidList, e.ModelID, e.Weight, l[i-1].ModelID, l[i-1].Weight)
		}
	}
	return nil
}

// Insert returns the list with id ranked directly above the model worse, or as
// the new worst model if worse is 0 (so model ids are expected to be non-zero,
// as database ids are). The new model's weight lies strictly between its
// neighbours'. It fails with ErrDuplicateModel if id is
// already ranked and with ErrUnknownModel if worse is not.
func (l List) Insert(id, worse int64) (List, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if l.Index(id) >= 0 {
		return nil, fmt.Errorf("%w: model %d", ErrDuplicateModel, id)
	}
	pos := 0
	if worse != 0 {
		i := l.Index(worse)
		if i < 0 {
			return nil, fmt.Errorf("%w: model %d (given as the next worse model)", ErrUnknownModel, worse)
		}
		pos = i + 1
	}

	offs := l.offsets()
	shift := 0
	if n := len(l); n >= 2 {
		shift = floorDiv(l[0].Weight+l[n-1].Weight, 2)
	}
	offs = slices.Insert(offs, pos, shift)

	out := make(List, len(l)+1)
	copy(out, l[:pos])
	out[pos] = Entry{ModelID: id}
	copy(out[pos+1:], l[pos:])
	base := baseScores(len(out))
	for i := range out {
		out[i].Weight = base[i] + offs[i]
	}
	// Keep the new model strictly between its neighbours. After the insert the
	// neighbours are at least Step apart, so there is room.
	if pos > 0 {
		out[pos].Weight = max(out[pos].Weight, out[pos-1].Weight+1)
	}
	if pos < len(out)-1 {
		out[pos].Weight = min(out[pos].Weight, out[pos+1].Weight-1)
	}
	return out.normalize(), nil
}

// Feedback adds delta to id's weight, moves id to its new place (every model it
// passes moves one rank step the other way) and re-centres the list. It fails
// with ErrUnknownModel if id is not ranked.
func (l List) Feedback(id int64, delta int) (List, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	i := l.Index(id)
	if i < 0 {
		return nil, fmt.Errorf("%w: model %d", ErrUnknownModel, id)
	}
	out := slices.Clone(l)
	out[i].Weight += delta
	base := baseScores(len(out))
	offs := out.offsets() // offsets of the passed models, by their old position
	for i > 0 && out[i].Weight < out[i-1].Weight {
		out[i], out[i-1] = out[i-1], out[i]
		out[i].Weight = base[i] + offs[i-1]
		i--
	}
	for i < len(out)-1 && out[i].Weight > out[i+1].Weight {
		out[i], out[i+1] = out[i+1], out[i]
		out[i].Weight = base[i] + offs[i+1]
		i++
	}
	return out.normalize(), nil
}

// Remove returns the list without id, the others re-ranked with their feedback
// offsets kept. It fails with ErrUnknownModel if id is not ranked.
func (l List) Remove(id int64) (List, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	i := l.Index(id)
	if i < 0 {
		return nil, fmt.Errorf("%w: model %d", ErrUnknownModel, id)
	}
	offs := slices.Delete(l.offsets(), i, i+1)
	out := slices.Delete(slices.Clone(l), i, i+1)
	base := baseScores(len(out))
	for j := range out {
		out[j].Weight = base[j] + offs[j]
	}
	return out.normalize(), nil
}

// offsets returns each entry's weight minus the base score of its position.
func (l List) offsets() []int {
	base := baseScores(len(l))
	offs := make([]int, len(l))
	for i, e := range l {
		offs[i] = e.Weight - base[i]
	}
	return offs
}

// normalize sorts l in place by weight, ties by id, and shifts it so that its
// median is 0. It returns l.
func (l List) normalize() List {
	slices.SortStableFunc(l, compareEntries)
	c := median(l)
	for i := range l {
		l[i].Weight -= c
	}
	return l
}

// baseScores returns the weights of n models without feedback: Step apart,
// median 0.
func baseScores(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = Step * i
	}
	c := medianOf(s)
	for i := range s {
		s[i] -= c
	}
	return s
}

// median returns the median weight of a sorted list: the middle element, or the
// floored mean of the two middle elements; 0 for an empty list.
func median(l List) int {
	w := make([]int, len(l))
	for i, e := range l {
		w[i] = e.Weight
	}
	return medianOf(w)
}

func medianOf(s []int) int {
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	default:
		return floorDiv(s[n/2-1]+s[n/2], 2)
	}
}

// floorDiv divides rounding towards negative infinity, like Python's //.
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func compareEntries(a, b Entry) int {
	return cmp.Or(cmp.Compare(a.Weight, b.Weight), cmp.Compare(a.ModelID, b.ModelID))
}
