package main

import (
	"context"
	"sync"
	"time"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
)

// usagePartitioner is a store whose usage tables are partitioned by month
// (store/postgres).
type usagePartitioner interface {
	MaintainUsagePartitions(ctx context.Context, cfg postgres.UsagePartitionConfig)
}

// startUsagePartitions starts, when st partitions its usage, the goroutine
// that creates the monthly partitions ahead and drops those older than
// retention (0: none), at once and every 6 hours. It returns the function
// that stops it and waits for it, or nil when st has no partitions.
func startUsagePartitions(ctx context.Context, st store.Store, retention time.Duration) (stop func()) {
	p, ok := st.(usagePartitioner)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.MaintainUsagePartitions(ctx, postgres.UsagePartitionConfig{Retention: retention}) })
	return func() {
		cancel()
		wg.Wait()
	}
}
