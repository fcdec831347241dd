package live

import (
	"context"
	"time"
)

// WaitPolled waits until every provider being polled has finished at least
// one poll (successful or not), or ctx ends. Schedulers that take the
// lanes' initial state from the polls call it before they start.
func (m *Monitor) WaitPolled(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		m.mu.Lock()
		done := true
		for _, s := range m.states {
			if s.PolledAt.IsZero() {
				done = false
				break
			}
		}
		m.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
