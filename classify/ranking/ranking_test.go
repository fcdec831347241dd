package ranking

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// l builds a List from (weight, id) pairs, the notation of the spec.
func l(pairs ...[2]int) List {
	out := List{}
	for _, p := range pairs {
		out = append(out, Entry{ModelID: int64(p[1]), Weight: p[0]})
	}
	return out
}

type op struct {
	kind  string // "insert", "feedback", "remove"
	id    int64
	arg   int64 // insert: worse; feedback: delta
	want  List
	label string
}

// TestSpecExamples runs the worked examples of spec §5.5 verbatim, as one
// sequence of operations.
func TestSpecExamples(t *testing.T) {
	steps := []op{
		{"insert", 1, 0, l([2]int{0, 1}), "add 1"},
		{"insert", 2, 0, l([2]int{-4, 2}, [2]int{4, 1}), "add 2 as the worst"},
		{"insert", 3, 1, l([2]int{-8, 2}, [2]int{0, 1}, [2]int{8, 3}), "add 3 above 1"},
		{"insert", 4, 3, l([2]int{-12, 2}, [2]int{-4, 1}, [2]int{4, 3}, [2]int{12, 4}), "add 4 above 3"},
		{"feedback", 2, 5, l([2]int{-7, 2}, [2]int{-4, 1}, [2]int{4, 3}, [2]int{12, 4}), "feedback +5 to 2"},
		{"feedback", 2, 20, l([2]int{-12, 1}, [2]int{-4, 3}, [2]int{4, 4}, [2]int{13, 2}), "feedback +20 to 2"},
		{"remove", 3, 0, l([2]int{-8, 1}, [2]int{0, 4}, [2]int{9, 2}), "delete 3"},
	}
	var cur List
	for _, s := range steps {
		before := slices.Clone(cur)
		next, err := apply(cur, s)
		if err != nil {
			t.Fatalf("%s: %v", s.label, err)
		}
		if !slices.Equal(next, s.want) {
			t.Fatalf("%s: got %v, want %v", s.label, next, s.want)
		}
		if !slices.Equal(cur, before) {
			t.Fatalf("%s: receiver was modified: %v, was %v", s.label, cur, before)
		}
		cur = next
	}
}

func apply(cur List, s op) (List, error) {
	switch s.kind {
	case "insert":
		return cur.Insert(s.id, s.arg)
	case "feedback":
		return cur.Feedback(s.id, int(s.arg))
	case "remove":
		return cur.Remove(s.id)
	}
	panic("unknown op " + s.kind)
}

func TestSingleOperations(t *testing.T) {
	four := l([2]int{-12, 2}, [2]int{-4, 1}, [2]int{4, 3}, [2]int{12, 4})
	tests := []struct {
		name string
		in   List
		op   op
	}{
		{"insert as new best", four, op{kind: "insert", id: 5, arg: 4,
			want: l([2]int{-16, 2}, [2]int{-8, 1}, [2]int{0, 3}, [2]int{8, 4}, [2]int{16, 5})}},
		{"insert as new worst", four, op{kind: "insert", id: 5, arg: 0,
			want: l([2]int{-16, 5}, [2]int{-8, 2}, [2]int{0, 1}, [2]int{8, 3}, [2]int{16, 4})}},
		{"insert in the middle", four, op{kind: "insert", id: 5, arg: 1,
			want: l([2]int{-16, 2}, [2]int{-8, 1}, [2]int{0, 5}, [2]int{8, 3}, [2]int{16, 4})}},
		// A negative delta bubbles down; the passed models rise one step.
		{"feedback down past two", four, op{kind: "feedback", id: 4, arg: -20,
			want: l([2]int{-10, 2}, [2]int{-6, 4}, [2]int{6, 1}, [2]int{14, 3})}},
		{"feedback zero", four, op{kind: "feedback", id: 3, arg: 0, want: four}},
		{"remove worst", four, op{kind: "remove", id: 2,
			want: l([2]int{-8, 1}, [2]int{0, 3}, [2]int{8, 4})}},
		{"remove last", l([2]int{0, 7}), op{kind: "remove", id: 7, want: List{}}},
		{"insert into empty", nil, op{kind: "insert", id: 9, arg: 0, want: l([2]int{0, 9})}},
		// Feedback offsets survive an insert: 2 keeps its +5.
		{"insert keeps offsets", l([2]int{-7, 2}, [2]int{-4, 1}, [2]int{4, 3}, [2]int{12, 4}),
			op{kind: "insert", id: 5, arg: 4,
				// offsets [5,0,0,0], mid-range shift ⌊(−7+12)/2⌋ = 2 for the new model.
				want: l([2]int{-11, 2}, [2]int{-8, 1}, [2]int{0, 3}, [2]int{8, 4}, [2]int{18, 5})}},
		// Offsets [0, +20, +20], mid-range shift 10: placed directly above 1,
		// model 5 would get 4+10 = 14 < 16 (the original leaves it there, below
		// 1). It is clamped just above 1 instead, then the list is re-centred.
		{"insert clamped above worse", l([2]int{-8, 2}, [2]int{20, 1}, [2]int{28, 3}),
			op{kind: "insert", id: 5, arg: 1,
				want: l([2]int{-28, 2}, [2]int{0, 1}, [2]int{1, 5}, [2]int{16, 3})}},
		// Offsets [+9, +1, −6]: without model 2, 1 gets −4+9 = 5 and 3 gets
		// 4−6 = −2, so 3 now ranks below 1; the result is ordered by weight.
		{"remove reorders by weight", l([2]int{1, 1}, [2]int{1, 2}, [2]int{2, 3}),
			op{kind: "remove", id: 2,
				want: l([2]int{-3, 3}, [2]int{4, 1})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apply(tt.in, tt.op)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.op.want) {
				t.Fatalf("got %v, want %v", got, tt.op.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	two := l([2]int{-4, 2}, [2]int{4, 1})
	if _, err := two.Insert(1, 0); !errors.Is(err, ErrDuplicateModel) {
		t.Errorf("insert duplicate: err = %v", err)
	}
	if _, err := two.Insert(3, 99); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("insert above unknown: err = %v", err)
	}
	if _, err := two.Feedback(99, 1); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("feedback unknown: err = %v", err)
	}
	if _, err := two.Remove(99); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("remove unknown: err = %v", err)
	}
	unsorted := l([2]int{4, 1}, [2]int{-4, 2})
	dup := l([2]int{-4, 1}, [2]int{4, 1})
	for _, bad := range []List{unsorted, dup} {
		if _, err := bad.Insert(3, 0); !errors.Is(err, ErrInvalidList) {
			t.Errorf("insert into %v: err = %v", bad, err)
		}
		if _, err := bad.Feedback(1, 1); !errors.Is(err, ErrInvalidList) {
			t.Errorf("feedback on %v: err = %v", bad, err)
		}
		if _, err := bad.Remove(1); !errors.Is(err, ErrInvalidList) {
			t.Errorf("remove from %v: err = %v", bad, err)
		}
	}
}

func TestFromWeights(t *testing.T) {
	got := FromWeights(map[int64]int{5: 3, 2: 3, 9: -1, 1: 10})
	want := l([2]int{-1, 9}, [2]int{3, 2}, [2]int{3, 5}, [2]int{10, 1})
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if m := got.Weights(); len(m) != 4 || m[5] != 3 || m[9] != -1 {
		t.Fatalf("Weights() = %v", m)
	}
	if len(FromWeights(nil)) != 0 {
		t.Fatal("FromWeights(nil) is not empty")
	}
}

func TestBaseScores(t *testing.T) {
	for n, want := range map[int][]int{
		0: {}, 1: {0}, 2: {-4, 4}, 3: {-8, 0, 8}, 4: {-12, -4, 4, 12}, 5: {-16, -8, 0, 8, 16},
	} {
		if got := baseScores(n); !slices.Equal(got, want) {
			t.Errorf("baseScores(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestFloorDiv(t *testing.T) {
	for _, c := range [][3]int{{5, 2, 2}, {-5, 2, -3}, {-4, 2, -2}, {0, 2, 0}, {-1, 2, -1}, {1, 2, 0}} {
		if got := floorDiv(c[0], c[1]); got != c[2] {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

// checkInvariants verifies what every operation guarantees.
func checkInvariants(t *testing.T, ctx string, got List) {
	t.Helper()
	if err := got.Validate(); err != nil {
		t.Fatalf("%s: %v (%v)", ctx, err, got)
	}
	// Ties are ordered by id, so the list is a function of its weights.
	if rt := FromWeights(got.Weights()); !slices.Equal(rt, got) {
		t.Fatalf("%s: round trip through Weights gives %v, list is %v", ctx, rt, got)
	}
	if n := len(got); n > 0 {
		if n%2 == 1 && got[n/2].Weight != 0 {
			t.Fatalf("%s: odd list with median %d: %v", ctx, got[n/2].Weight, got)
		}
		if n%2 == 0 && floorDiv(got[n/2-1].Weight+got[n/2].Weight, 2) != 0 {
			t.Fatalf("%s: even list not centred: %v", ctx, got)
		}
	}
}

// TestRandomSequences applies random operations and checks the invariants, the
// operation-specific guarantees and agreement with a literal port of the
// original algorithm wherever the original keeps the list in weight order.
func TestRandomSequences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	compared := 0
	for seq := range 300 {
		var cur List
		nextID := int64(1)
		for step := range 60 {
			ctx := func(what string) string {
				return what + " (sequence " + itoa(seq) + ", step " + itoa(step) + ")"
			}
			var (
				got List
				ref List
				err error
			)
			switch k := rng.IntN(10); {
			case len(cur) == 0 || k < 4:
				id := nextID
				nextID++
				var worse int64
				pos := 0
				if len(cur) > 0 && rng.IntN(4) > 0 {
					pos = rng.IntN(len(cur)) + 1
					worse = cur[pos-1].ModelID
				}
				got, err = cur.Insert(id, worse)
				if err != nil {
					t.Fatal(ctx("insert"), err)
				}
				if i := got.Index(id); i != pos {
					t.Fatalf("%s: inserted at %d, want %d: %v", ctx("insert"), i, pos, got)
				}
				ref = refInsert(cur, id, pos)
			case k < 7:
				e := cur[rng.IntN(len(cur))]
				delta := rng.IntN(61) - 30
				got, err = cur.Feedback(e.ModelID, delta)
				if err != nil {
					t.Fatal(ctx("feedback"), err)
				}
				ref = refFeedback(cur, cur.Index(e.ModelID), delta)
			default:
				e := cur[rng.IntN(len(cur))]
				got, err = cur.Remove(e.ModelID)
				if err != nil {
					t.Fatal(ctx("remove"), err)
				}
				if got.Index(e.ModelID) >= 0 || len(got) != len(cur)-1 {
					t.Fatalf("%s: %d still present: %v", ctx("remove"), e.ModelID, got)
				}
				ref = refRemove(cur, cur.Index(e.ModelID))
			}
			checkInvariants(t, ctx("after operation"), got)
			if strictlyIncreasing(ref) {
				compared++
				if !slices.Equal(got, ref) {
					t.Fatalf("%s: got %v, original algorithm gives %v (from %v)", ctx("compare"), got, ref, cur)
				}
			}
			cur = got
		}
	}
	if compared < 10000 {
		t.Fatalf("only %d steps compared with the original algorithm", compared)
	}
}

// TestWithoutFeedbackWeightsArePureRanks: inserts and removals alone always
// leave every model at the base score of its position.
func TestWithoutFeedbackWeightsArePureRanks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var cur List
	for id := int64(1); id <= 500; id++ {
		var err error
		if len(cur) > 3 && rng.IntN(3) == 0 {
			cur, err = cur.Remove(cur[rng.IntN(len(cur))].ModelID)
		} else {
			var worse int64
			if len(cur) > 0 && rng.IntN(5) > 0 {
				worse = cur[rng.IntN(len(cur))].ModelID
			}
			cur, err = cur.Insert(id, worse)
		}
		if err != nil {
			t.Fatal(err)
		}
		base := baseScores(len(cur))
		for i, e := range cur {
			if e.Weight != base[i] {
				t.Fatalf("position %d has weight %d, want %d: %v", i, e.Weight, base[i], cur)
			}
		}
	}
}

func strictlyIncreasing(l List) bool {
	for i := 1; i < len(l); i++ {
		if l[i].Weight <= l[i-1].Weight {
			return false
		}
	}
	return true
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// The ref* functions are a literal port of the original ModelHandler
// (add_model, give_feedback, remove_model), without re-sorting or clamping.

func refRebalance(l List) List {
	out := slices.Clone(l)
	if len(out) == 0 {
		return out
	}
	var c int
	if n := len(out); n%2 == 1 {
		c = out[n/2].Weight
	} else {
		c = floorDiv(out[n/2-1].Weight+out[n/2].Weight, 2)
	}
	for i := range out {
		out[i].Weight -= c
	}
	return out
}

func refReset(l List) List {
	out := slices.Clone(l)
	u := map[int]bool{}
	for _, e := range l {
		u[e.Weight] = true
	}
	for i := range out {
		out[i].Weight = 2 * (-2*len(u) + 4*i)
	}
	return refRebalance(out)
}

func refInsert(l List, id int64, pos int) List {
	reset := refReset(l)
	diffs := make([]int, len(l))
	for i := range l {
		diffs[i] = reset[i].Weight - l[i].Weight
	}
	shift := 0
	if len(l) >= 2 {
		shift = floorDiv(l[0].Weight+l[len(l)-1].Weight, 2)
	}
	models := slices.Insert(slices.Clone(l), pos, Entry{ModelID: id})
	diffs = slices.Insert(diffs, pos, -shift)
	values := refReset(models)
	for i := range values {
		values[i].Weight -= diffs[i]
	}
	return refRebalance(values)
}

func refRemove(l List, index int) List {
	reset := refReset(l)
	diffs := make([]int, len(l))
	for i := range l {
		diffs[i] = reset[i].Weight - l[i].Weight
	}
	models := slices.Delete(slices.Clone(l), index, index+1)
	diffs = slices.Delete(diffs, index, index+1)
	values := refReset(models)
	for i := range values {
		values[i].Weight -= diffs[i]
	}
	return refRebalance(values)
}

func refFeedback(l List, index, fb int) List {
	models := slices.Clone(l)
	models[index].Weight += fb
	reset := refReset(models)
	diffs := make([]int, len(models))
	for i := range models {
		diffs[i] = reset[i].Weight - models[i].Weight
	}
	for index > 0 && models[index].Weight < models[index-1].Weight {
		models[index], models[index-1] = models[index-1], models[index]
		models[index].Weight = reset[index].Weight - diffs[index-1]
		index--
	}
	for index < len(models)-1 && models[index].Weight > models[index+1].Weight {
		models[index], models[index+1] = models[index+1], models[index]
		models[index].Weight = reset[index].Weight - diffs[index+1]
		index++
	}
	return refRebalance(models)
}
