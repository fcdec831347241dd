package monitor_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logos-llm/logos/internal/usagelog"
	"github.com/logos-llm/logos/monitor"
)

type fakeLog struct{ s usagelog.Stats }

func (f fakeLog) Stats() usagelog.Stats { return f.s }

func TestUsageLogMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := monitor.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WatchUsageLog(fakeLog{usagelog.Stats{Bytes: 4096, BacklogBytes: 1024, Segments: 2}}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP logos_usage_log_backlog_bytes Bytes of the local usage log not yet confirmed stored in the database: the backlog an outage leaves.
# TYPE logos_usage_log_backlog_bytes gauge
logos_usage_log_backlog_bytes 1024
# HELP logos_usage_log_bytes Size of the local usage log on disk.
# TYPE logos_usage_log_bytes gauge
logos_usage_log_bytes 4096
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "logos_usage_log_bytes", "logos_usage_log_backlog_bytes"); err != nil {
		t.Fatal(err)
	}
}
