package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/logos-llm/logos/classify/ranking"
	"github.com/logos-llm/logos/store"
)

// MaxFeedback bounds the value of one feedback, far beyond any useful rank
// offset (adjacent ranks are ranking.Step apart) and far from overflowing a
// weight.
const MaxFeedback = 1_000_000

// rankCategories are the ranked weight categories of a model. Privacy is a
// level, not a rank.
var rankCategories = []struct {
	name   string
	weight func(m *store.Model) *int
}{
	{"accuracy", func(m *store.Model) *int { return &m.WeightAccuracy }},
	{"quality", func(m *store.Model) *int { return &m.WeightQuality }},
	{"latency", func(m *store.Model) *int { return &m.WeightLatency }},
	{"cost", func(m *store.Model) *int { return &m.WeightCost }},
}

// isRankCategory reports whether name is a ranked category.
func isRankCategory(name string) bool {
	for _, c := range rankCategories {
		if c.name == name {
			return true
		}
	}
	return false
}

// NewModel creates a model with default weights from its name alone
// (add_model).
func (c *Catalog) NewModel(ctx context.Context, name string) (store.Model, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return store.Model{}, missing("name")
	}
	m, err := c.s.CreateModel(ctx, store.Model{Name: name})
	return m, object(err, fmt.Sprintf("model %q", name), "name")
}

// RankedModel is a model to create with its place in each ranked category
// (add_full_model): Worse names, by category, the model it ranks just above
// (0 or absent: below every model).
type RankedModel struct {
	Name, WeightPrivacy, Tags, Description string
	Parallel, ContextWindow                int
	Worse                                  map[string]int64
	// Retry is the model's retry policy (zero fields: the defaults).
	Retry store.RetryPolicy
}

// NewRankedModel creates a model and ranks it in each category, in one
// transaction: the weights of the models it displaces change with it.
func (c *Catalog) NewRankedModel(ctx context.Context, r RankedModel) (store.Model, error) {
	m := store.Model{
		Name:          strings.TrimSpace(r.Name),
		Tags:          strings.TrimSpace(r.Tags),
		Parallel:      r.Parallel,
		Description:   r.Description,
		ContextWindow: r.ContextWindow,
		Retry:         r.Retry,
	}
	switch {
	case m.Name == "":
		return store.Model{}, missing("name")
	case m.Parallel < 0 || m.Parallel > 256:
		return store.Model{}, invalid("parallel", "must be between 1 and 256")
	case m.ContextWindow < 0:
		return store.Model{}, invalid("context_window", "must not be negative")
	}
	if strings.TrimSpace(r.WeightPrivacy) != "" {
		level, err := ParsePrivacy("weight_privacy", r.WeightPrivacy)
		if err != nil {
			return store.Model{}, err
		}
		m.WeightPrivacy = level
	}
	c.rank.Lock()
	defer c.rank.Unlock()
	err := c.Atomically(ctx, func(ctx context.Context) error {
		models, err := c.s.ListModels(ctx)
		if err != nil {
			return object(err, "models", "")
		}
		for _, cat := range rankCategories {
			if id := r.Worse[cat.name]; id != 0 && findModel(models, id) < 0 {
				return object(store.ErrNotFound, fmt.Sprintf("model %d", id), "worse_"+cat.name)
			}
		}
		name := m.Name
		if m, err = c.s.CreateModel(ctx, m); err != nil {
			return object(err, fmt.Sprintf("model %q", name), "name")
		}
		models = append(models, m)
		changed, err := rerank(models, m.ID, func(category string, l ranking.List) (ranking.List, error) {
			return l.Insert(m.ID, r.Worse[category])
		})
		if err == nil {
			err = c.saveWeights(ctx, models, changed)
		}
		if err != nil && !inTx(ctx) {
			// Without a transaction, leave no unranked model behind.
			if derr := c.s.DeleteModel(context.WithoutCancel(ctx), m.ID); derr != nil {
				c.log.Error("catalog: removing a model whose ranking failed", "model_id", m.ID, "err", derr)
			}
		}
		return object(err, fmt.Sprintf("model %q", m.Name), "")
	})
	if err != nil {
		return store.Model{}, err
	}
	return m, nil
}

// Feedback applies manual feedback to the model id (update_model): for a
// ranked category, value (a JSON integer) is added to the model's weight
// and the category is re-ranked; for privacy, value (a JSON string) is the
// new privacy level. The weights that change are written in one
// transaction.
func (c *Catalog) Feedback(ctx context.Context, id int64, category string, value json.RawMessage) error {
	if err := needID("id", id); err != nil {
		return err
	}
	category = strings.ToLower(strings.TrimSpace(category))
	if category == "" {
		return missing("category")
	}
	if category != "privacy" && !isRankCategory(category) && !IsRetryField(category) {
		return invalid("category", "must be one of latency, accuracy, quality, cost, privacy, retry_max_attempts, retry_attempt_timeout_ms, retry_deadline_ms")
	}
	if len(value) == 0 || string(value) == "null" {
		return missing("value")
	}
	if IsRetryField(category) {
		return c.setModelRetry(ctx, id, category, value)
	}
	if category == "privacy" {
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			return invalid("value", "must be a privacy level for the category privacy")
		}
		level, err := ParsePrivacy("value", s)
		if err != nil {
			return err
		}
		c.rank.Lock()
		defer c.rank.Unlock()
		m, err := c.s.GetModel(ctx, id)
		if err != nil {
			return object(err, fmt.Sprintf("model %d", id), "id")
		}
		m.WeightPrivacy = level
		_, err = c.s.UpdateModel(ctx, m)
		return object(err, fmt.Sprintf("model %d", id), "id")
	}
	var delta int
	if err := json.Unmarshal(value, &delta); err != nil {
		return invalid("value", "must be an integer for the category "+category)
	}
	if delta < -MaxFeedback || delta > MaxFeedback {
		return invalid("value", fmt.Sprintf("must be between %d and %d", -MaxFeedback, MaxFeedback))
	}
	c.rank.Lock()
	defer c.rank.Unlock()
	return c.Atomically(ctx, func(ctx context.Context) error {
		models, changed, err := c.rerankAround(ctx, id, func(cat string, l ranking.List) (ranking.List, error) {
			if cat != category {
				return l, nil
			}
			return l.Feedback(id, delta)
		})
		if err != nil {
			return err
		}
		return object(c.saveWeights(ctx, models, changed), fmt.Sprintf("model %d", id), "id")
	})
}

// DropModel deletes a model, its deployments and permissions, and re-ranks
// the remaining models without it, in one transaction (delete_model).
func (c *Catalog) DropModel(ctx context.Context, id int64) error {
	if err := needID("id", id); err != nil {
		return err
	}
	c.rank.Lock()
	defer c.rank.Unlock()
	return c.Atomically(ctx, func(ctx context.Context) error {
		models, changed, err := c.rerankAround(ctx, id, func(_ string, l ranking.List) (ranking.List, error) {
			return l.Remove(id)
		})
		if err != nil {
			return err
		}
		// Delete first: if that fails, no weight has changed.
		if err := c.s.DeleteModel(ctx, id); err != nil {
			return object(err, fmt.Sprintf("model %d", id), "id")
		}
		return object(c.saveWeights(ctx, models, changed), "model weights", "")
	})
}

// rerankAround lists the models and re-ranks them with op (rerank) for a
// change to model id, which must exist: Feedback and DropModel, holding
// c.rank inside Atomically. It returns the models and the indexes of those
// whose weights changed; its errors are ready to return (*ObjectError).
func (c *Catalog) rerankAround(ctx context.Context, id int64, op func(category string, l ranking.List) (ranking.List, error)) ([]store.Model, []int, error) {
	models, err := c.s.ListModels(ctx)
	if err != nil {
		return nil, nil, object(err, "models", "")
	}
	if findModel(models, id) < 0 {
		return nil, nil, object(store.ErrNotFound, fmt.Sprintf("model %d", id), "id")
	}
	changed, err := rerank(models, 0, op)
	if err != nil {
		return nil, nil, object(err, fmt.Sprintf("model %d", id), "id")
	}
	return models, changed, nil
}

// AddModel stores a model record as given (the config file).
func (c *Catalog) AddModel(ctx context.Context, m store.Model) (store.Model, error) {
	return c.s.CreateModel(ctx, m)
}

// ChangeModel replaces a stored model's fields with m's (the config file,
// which sets weights as written rather than re-ranking).
func (c *Catalog) ChangeModel(ctx context.Context, m store.Model) (store.Model, error) {
	return c.s.UpdateModel(ctx, m)
}

// RemoveModel deletes a model, its deployments and permissions, without
// re-ranking the others (the config file's prune).
func (c *Catalog) RemoveModel(ctx context.Context, id int64) error {
	return c.s.DeleteModel(ctx, id)
}

// rerank re-ranks models in every category: it builds the category's ranking
// from the stored weights of all models but skip (0: none), applies op, and
// writes the resulting weights into models. A model op removed keeps its
// weights. It returns the indexes of the models whose weights changed.
func rerank(models []store.Model, skip int64, op func(category string, l ranking.List) (ranking.List, error)) ([]int, error) {
	changed := map[int]bool{}
	for _, c := range rankCategories {
		weights := make(map[int64]int, len(models))
		for i := range models {
			if models[i].ID != skip {
				weights[models[i].ID] = *c.weight(&models[i])
			}
		}
		l, err := op(c.name, ranking.FromWeights(weights))
		if err != nil {
			return nil, fmt.Errorf("ranking %s: %w", c.name, err)
		}
		next := l.Weights()
		for i := range models {
			w, ok := next[models[i].ID]
			if p := c.weight(&models[i]); ok && *p != w {
				*p = w
				changed[i] = true
			}
		}
	}
	out := make([]int, 0, len(changed))
	for i := range models {
		if changed[i] {
			out = append(out, i)
		}
	}
	return out, nil
}

// saveWeights stores the models at the given indexes.
func (c *Catalog) saveWeights(ctx context.Context, models []store.Model, idx []int) error {
	for _, i := range idx {
		if _, err := c.s.UpdateModel(ctx, models[i]); err != nil {
			return err
		}
	}
	return nil
}

// findModel returns the index of the model with the given id, or -1.
func findModel(models []store.Model, id int64) int {
	for i := range models {
		if models[i].ID == id {
			return i
		}
	}
	return -1
}
