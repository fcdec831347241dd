package postgres_test

import (
	"context"
	"log"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
)

// A bulk load that writes usage records itself (with COPY, say) keeps the
// rollups the statistics read as InsertUsage would: it adds every record
// written to a UsageRollup, then the sums to the database. (Not run: it
// needs a PostgreSQL database.)
func ExampleUsageRollup() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, postgres.Config{URL: "postgres://logos@127.0.0.1/logos"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	var written []store.UsageRecord // the records the load copied
	u := postgres.NewUsageRollup()
	for _, r := range written {
		u.Add(r)
	}
	if err := s.AddUsageRollup(ctx, u); err != nil {
		log.Fatal(err)
	}
}
