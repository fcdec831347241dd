package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/logos-llm/logos/store/postgres/pgtest"
)

// TestFill: a fill stores the records and tokens asked for, spread over the
// range, and the rollups it writes are exactly those the database computes
// from the records; a second fill with another seed adds to them.
func TestFill(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewMigratedDatabase(t)
	var out bytes.Buffer
	for _, seed := range []string{"1", "2"} {
		args := []string{"-db", url, "-records", "3000", "-from", "2026-01-20", "-to", "2026-03-10", "-seed", seed}
		if err := runFill(ctx, args, &out, &out); err != nil {
			t.Fatalf("fill %v: %v\n%s", args, err, out.String())
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var records, tokens, months int64
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT date_trunc('month', received_at AT TIME ZONE 'UTC'))
		FROM usage_records`).Scan(&records, &months); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM usage_tokens`).Scan(&tokens); err != nil {
		t.Fatal(err)
	}
	if records != 6000 || months != 3 || tokens < 2*records {
		t.Errorf("fill stored %d records over %d months with %d tokens, want 6000 over 3 with at least 2 each", records, months, tokens)
	}
	var defaults int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM usage_records_default`).Scan(&defaults); err != nil || defaults != 0 {
		t.Errorf("%d records in the DEFAULT partition (%v), want 0: fill creates the months' partitions", defaults, err)
	}
	const digest = `SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
		SELECT * FROM usage_rollup UNION ALL SELECT false, hour, process_id, profile_id, 0, model_name, provider_name,
			currency, token_type_id::text, false, requests, errors, tokens, cost_micros, 0, 0, 0, hour
		FROM usage_token_rollup) x`
	var filled, rebuilt string
	if err := conn.QueryRow(ctx, digest).Scan(&filled); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT logos_rebuild_usage_rollup('-infinity', 'infinity')`); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, digest).Scan(&rebuilt); err != nil {
		t.Fatal(err)
	}
	if filled != rebuilt {
		t.Error("the rollups fill wrote differ from those rebuilt from its records")
	}
	if !strings.Contains(out.String(), "filled 3000 records") {
		t.Errorf("fill output lacks its summary:\n%s", out.String())
	}
}
