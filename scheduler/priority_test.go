package scheduler

import "testing"

func TestParsePriority(t *testing.T) {
	tests := []struct {
		in   string
		want Priority
	}{
		{"low", PriorityLow},
		{"l", PriorityLow},
		{"LOW", PriorityLow},
		{"  Low\t", PriorityLow},
		{"1", PriorityLow},
		{"normal", PriorityNormal},
		{"medium", PriorityNormal},
		{"mid", PriorityNormal},
		{"n", PriorityNormal},
		{"M", PriorityNormal},
		{"5", PriorityNormal},
		{"high", PriorityHigh},
		{"critical", PriorityHigh},
		{"h", PriorityHigh},
		{"C", PriorityHigh},
		{" HIGH ", PriorityHigh},
		{"10", PriorityHigh},
		{"", PriorityNormal},
		{"urgent", PriorityNormal},
		{"0", PriorityNormal},
		{"2", PriorityNormal},
		{"9", PriorityNormal},
		{"01", PriorityNormal},
		{"-1", PriorityNormal},
		{"lo", PriorityNormal},
	}
	for _, tt := range tests {
		if got := ParsePriority(tt.in); got != tt.want {
			t.Errorf("ParsePriority(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPriorityFromInt(t *testing.T) {
	tests := []struct {
		in   int
		want Priority
	}{
		{1, PriorityLow},
		{5, PriorityNormal},
		{10, PriorityHigh},
		{-100, PriorityLow},
		{0, PriorityNormal}, // unset
		{-1, PriorityLow},
		{2, PriorityLow},
		{3, PriorityLow},
		{4, PriorityNormal},
		{6, PriorityNormal},
		{7, PriorityNormal},
		{8, PriorityHigh},
		{9, PriorityHigh},
		{11, PriorityHigh},
		{1 << 40, PriorityHigh},
	}
	for _, tt := range tests {
		if got := PriorityFromInt(tt.in); got != tt.want {
			t.Errorf("PriorityFromInt(%d) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPriorityNormalize(t *testing.T) {
	tests := []struct {
		in, want Priority
	}{
		{0, PriorityNormal},
		{PriorityLow, PriorityLow},
		{PriorityNormal, PriorityNormal},
		{PriorityHigh, PriorityHigh},
		{2, PriorityLow},
		{-3, PriorityLow},
		{7, PriorityNormal},
		{8, PriorityHigh},
	}
	for _, tt := range tests {
		if got := tt.in.Normalize(); got != tt.want {
			t.Errorf("Priority(%d).Normalize() = %v, want %v", int(tt.in), got, tt.want)
		}
	}
}

func TestPriorityString(t *testing.T) {
	tests := []struct {
		in   Priority
		want string
	}{
		{PriorityLow, "low"},
		{PriorityNormal, "normal"},
		{PriorityHigh, "high"},
		{0, "0"},
		{7, "7"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Priority(%d).String() = %q, want %q", int(tt.in), got, tt.want)
		}
		if got := ParsePriority(tt.in.String()); tt.in.Normalize() == tt.in && got != tt.in {
			t.Errorf("ParsePriority(%q) = %v, want it to round-trip", tt.in.String(), got)
		}
	}
}

func TestQueueCountsTotal(t *testing.T) {
	if got := (QueueCounts{Low: 1, Normal: 2, High: 4}).Total(); got != 7 {
		t.Errorf("Total() = %d, want 7", got)
	}
	if got := (QueueCounts{}).Total(); got != 0 {
		t.Errorf("zero Total() = %d, want 0", got)
	}
}
