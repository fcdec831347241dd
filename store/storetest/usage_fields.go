package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

// everyFieldBatch is the size of testUsageEveryField's batch: one statement
// of each of SQLite's multi-row shapes (64 and 16 rows with the catalogue ids
// resolved beforehand, 4 rows with sub-selects) and its one-row statement.
const everyFieldBatch = 64 + 16 + 4 + 1

// usageRefs are the catalogue ids of testUsageEveryField's records: rows that
// exist, all different, so a store writing one id into another's column
// reads back a different record.
type usageRefs struct {
	process, profile, model, provider, deployment, policy int64
}

// distinctRefs creates catalogue rows until it has one of each kind whose id
// no other of them has (a fresh store numbers every table from 1).
func distinctRefs(t testing.TB, s store.Store, f fixture) usageRefs {
	t.Helper()
	ctx := t.Context()
	taken := map[int64]bool{}
	next := func(what string, create func(i int) int64) int64 {
		t.Helper()
		for i := range 50 {
			if id := create(i); !taken[id] {
				taken[id] = true
				return id
			}
		}
		t.Fatalf("no %s with an id of its own after 50 rows", what)
		return 0
	}
	var r usageRefs
	r.process = next("process", func(int) int64 { return f.Process.ID })
	r.profile = next("profile", func(i int) int64 {
		return must(s.CreateProfile(ctx, store.Profile{Name: fmt.Sprintf("ef-profile-%d", i), ProcessID: r.process}))(t).ID
	})
	r.model = next("model", func(i int) int64 { return must(s.CreateModel(ctx, newModel(fmt.Sprintf("ef-model-%d", i))))(t).ID })
	r.provider = next("provider", func(i int) int64 {
		return must(s.CreateProvider(ctx, newProvider(fmt.Sprintf("ef-provider-%d", i))))(t).ID
	})
	r.deployment = next("deployment", func(i int) int64 {
		m := must(s.CreateModel(ctx, newModel(fmt.Sprintf("ef-deployed-%d", i))))(t)
		return must(s.CreateDeployment(ctx, store.Deployment{ModelID: m.ID, ProviderID: r.provider, UpstreamModel: "ef-upstream"}))(t).ID
	})
	r.policy = next("policy", func(i int) int64 {
		return must(s.CreatePolicy(ctx, store.Policy{ProcessID: r.process, Name: fmt.Sprintf("ef-policy-%d", i), ThresholdPrivacy: store.PrivacyLocal}))(t).ID
	})
	return r
}

// everyFieldUsage returns record i of testUsageEveryField: every field set,
// and every field that can differ from the others does, and from the same
// field of the other records.
func everyFieldUsage(refs usageRefs, i int) store.UsageRecord {
	at := oddTime.Add(time.Duration(i) * time.Minute)
	return store.UsageRecord{
		RequestID:          fmt.Sprintf("req-every-%03d", i),
		ClientRequestID:    fmt.Sprintf("client-every-%03d", i),
		ProcessID:          refs.process,
		ProfileID:          refs.profile,
		ModelID:            refs.model,
		ProviderID:         refs.provider,
		DeploymentID:       refs.deployment,
		PolicyID:           refs.policy,
		ModelName:          fmt.Sprintf("model-name-%03d", i),
		ProviderName:       fmt.Sprintf("provider-name-%03d", i),
		Operation:          fmt.Sprintf("operation/%03d", i),
		Stream:             true,
		ReceivedAt:         at,
		ForwardedAt:        at.Add(1234567 * time.Nanosecond),
		FirstTokenAt:       at.Add(250*time.Millisecond + 1),
		CompletedAt:        at.Add(3*time.Second + 999),
		StatusCode:         300 + i,
		Outcome:            store.OutcomeCancelled,
		ErrorMessage:       fmt.Sprintf("error message %03d", i),
		ClientIP:           fmt.Sprintf("2001:db8::%x", i+1),
		Priority:           1000 + i,
		QueueWait:          time.Duration(7_000_000+i) * time.Microsecond,
		ColdStart:          true,
		LogLevel:           store.LogFull,
		Classification:     json.RawMessage(fmt.Sprintf(`{"classification":%d}`, i)),
		ClassifiedBy:       fmt.Sprintf("stage-%03d", i),
		ClassificationTime: time.Duration(8_000_000+i) * time.Microsecond,
		RequestPayload:     json.RawMessage(fmt.Sprintf(`{"request":%d}`, i)),
		ResponsePayload:    json.RawMessage(fmt.Sprintf(`{"response":%d}`, i)),
		RequestHeaders:     json.RawMessage(fmt.Sprintf(`{"X-Request":["%d"]}`, i)),
		ResponseHeaders:    json.RawMessage(fmt.Sprintf(`{"X-Response":["%d"]}`, i)),
		Tokens: []store.TokenCount{
			{Type: "every_a_tokens", Count: int64(2000 + i), CostMicros: int64(3000 + i)},
			{Type: "every_b_tokens", Count: int64(4000 + i), CostMicros: int64(5000 + i)},
		},
		CostMicros: int64(9_000_000 + i),
		Currency:   "CHF",
		Attempts:   100 + i,
	}
}

// usageStoreAssigned lists the fields of store.UsageRecord that the store
// assigns, so a record to insert leaves them zero: ID, the record's row id,
// which checkUsage requires to be positive instead of comparing it.
var usageStoreAssigned = map[string]bool{"ID": true}

// checkEveryField fails t unless every field of r (and of each of its token
// counts) is set, except those the store assigns, and no two fields of one
// kind (all integers count as one) have the same value. A field added to
// store.UsageRecord must so be given a value here, and a store that does not
// write it, or writes it into another field's column, fails the round trip.
// Bools can only be true or false: a store swapping Stream and ColdStart
// is not caught.
func checkEveryField(t testing.TB, r store.UsageRecord) {
	t.Helper()
	v := reflect.ValueOf(r)
	seen := map[string]string{} // value → field
	for i := range v.NumField() {
		name, f := v.Type().Field(i).Name, v.Field(i)
		if usageStoreAssigned[name] {
			continue
		}
		if f.IsZero() {
			t.Fatalf("UsageRecord.%s is not set: give it a value in everyFieldUsage", name)
		}
		if name == "Tokens" {
			for _, tc := range r.Tokens {
				tv := reflect.ValueOf(tc)
				for j := range tv.NumField() {
					if tv.Field(j).IsZero() {
						t.Fatalf("TokenCount.%s of %+v is not set: give it a value in everyFieldUsage", tv.Type().Field(j).Name, tc)
					}
				}
			}
			continue
		}
		var key string
		switch f.Kind() {
		case reflect.Bool:
			continue
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			key = fmt.Sprintf("int %d", f.Int())
		case reflect.String:
			key = "string " + f.String()
		default:
			key = fmt.Sprintf("%s %v", f.Type(), f.Interface())
		}
		if other, dup := seen[key]; dup {
			t.Fatalf("UsageRecord.%s and .%s are both %s: give them different values in everyFieldUsage", other, name, key)
		}
		seen[key] = name
	}
}

// testUsageEveryField inserts records with every field set, in a batch that
// takes every multi-row statement of a store that has them and alone, and
// reads each back whole.
func testUsageEveryField(t *testing.T, s store.Store) {
	ctx := t.Context()
	refs := distinctRefs(t, s, newFixture(t, s))
	batch := make([]store.UsageRecord, everyFieldBatch)
	for i := range batch {
		batch[i] = everyFieldUsage(refs, i)
		checkEveryField(t, batch[i])
	}
	alone := everyFieldUsage(refs, everyFieldBatch)
	checkEveryField(t, alone)

	insert(t, s, len(batch), batch...)
	insert(t, s, 1, alone)
	for _, r := range append(batch, alone) {
		checkUsage(t, "GetUsage of "+r.RequestID, r, must(s.GetUsage(ctx, r.RequestID))(t))
	}
}
