package classify

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestParseModelString(t *testing.T) {
	tests := []struct {
		in   string
		want ModelString
	}{
		{"logos-v1", ModelString{Version: "1", Default: true}},
		{"logos-v2.1", ModelString{Version: "2.1", Default: true}},
		{"logos-v1__policy_default=true", ModelString{Version: "1", Default: true}},
		// The original's examples (spec §5.1).
		{"logos-v1__policy_default=false_privacy=LOCAL", ModelString{Version: "1", Privacy: ptr("LOCAL")}},
		{"logos-v1__policy_default=false__privacy=LOCAL", ModelString{Version: "1", Privacy: ptr("LOCAL")}},
		{"logos-v2.1__policy_default=false_accuracy=5_cost=3__policy=7", ModelString{Version: "2.1", Accuracy: ptr(5), Cost: ptr(3), PolicyID: 7}},
		// All four privacy levels, with either separator.
		{"logos-v1__policy_privacy=CLOUD_IN_EU_BY_EU_PROVIDER", ModelString{Version: "1", Privacy: ptr("CLOUD_IN_EU_BY_EU_PROVIDER")}},
		{"logos-v1__policy_privacy=CLOUD_IN_EU_BY_US_PROVIDER_cost=-8", ModelString{Version: "1", Privacy: ptr("CLOUD_IN_EU_BY_US_PROVIDER"), Cost: ptr(-8)}},
		{"logos-v1__policy_privacy=CLOUD_NOT_IN_EU_BY_US_PROVIDER__latency=4_quality=1024", ModelString{Version: "1", Privacy: ptr("CLOUD_NOT_IN_EU_BY_US_PROVIDER"), Latency: ptr(4), Quality: ptr(1024)}},
		{"logos-v1__policy=12", ModelString{Version: "1", Default: true, PolicyID: 12}},
		{"logos-v1__policy=12__policy_accuracy=8", ModelString{Version: "1", PolicyID: 12, Accuracy: ptr(8)}},
		{"logos-v1__policy_cost=1024_policy=3", ModelString{Version: "1", Cost: ptr(1024), PolicyID: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseModelString(tt.in)
			if err != nil {
				t.Fatalf("ParseModelString(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseModelString(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseModelStringErrors(t *testing.T) {
	tests := []struct {
		in      string
		segment int
		text    string
		offset  int
		reason  string
	}{
		{"gpt-4o", 0, "gpt-4o", 0, "must start with"},
		{"logos-v", 0, "", 7, "version"},
		{"logos-vx", 0, "x", 7, "version"},
		{"logos-v1.", 0, "1.", 7, "version"},
		{"logos-v1__", 1, "", 10, "empty segment"},
		{"logos-v1____policy_cost=1", 1, "", 10, "empty segment"},
		{"logos-v1__policy_", 1, "policy_", 10, "followed by key=value"},
		{"logos-v1__policy_accuracy=high", 1, "accuracy=high", 17, "accuracy must be an integer"},
		{"logos-v1__policy_cost=1.5", 1, "cost=1.5", 17, "cost must be an integer"},
		{"logos-v1__policy_privacy=EU", 1, "privacy=EU", 17, "privacy must be"},
		{"logos-v1__policy_privacy=local", 1, "privacy=local", 17, "privacy must be"},
		{"logos-v1__policy_default=false", 1, "policy_default=false", 10, "default=false needs"},
		{"logos-v1__policy_default=true_cost=3", 1, "policy_default=true_cost=3", 10, "default=true cannot"},
		{"logos-v1__policy_default=yes", 1, "default=yes", 17, "true or false"},
		{"logos-v1__policy_speed=3", 1, "speed=3", 17, "unknown key"},
		{"logos-v1__policy_cost=3__cost=4", 2, "cost=4", 25, "given twice"},
		{"logos-v1__privacy=LOCAL", 1, "privacy=LOCAL", 10, "policy section"},
		{"logos-v1__policy=abc", 1, "policy=abc", 10, "positive integer"},
		{"logos-v1__policy=0", 1, "policy=0", 10, "positive integer"},
		{"logos-v1__policy_cost=3__policy_quality=1", 2, "policy_quality=1", 25, "only once"},
		{"logos-v1__policy_cost", 1, "cost", 17, "want key=value"},
		{"logos-v1__policy_cost=3=4", 1, "cost=3=4", 17, "contains '='"},
		{"logos-v1__policy_latency=99999999999", 1, "latency=99999999999", 17, "integer"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseModelString(tt.in)
			if !errors.Is(err, ErrInvalidModelString) {
				t.Fatalf("ParseModelString(%q) = %v, want ErrInvalidModelString", tt.in, err)
			}
			var me *ModelStringError
			if !errors.As(err, &me) {
				t.Fatalf("error %T is no *ModelStringError", err)
			}
			if me.Segment != tt.segment || me.Text != tt.text || me.Offset != tt.offset || !strings.Contains(me.Reason, tt.reason) {
				t.Errorf("got segment %d %q at %d (%s), want segment %d %q at %d (%s)", me.Segment, me.Text, me.Offset, me.Reason, tt.segment, tt.text, tt.offset, tt.reason)
			}
			if me.Offset+len(me.Text) > len(tt.in) || tt.in[me.Offset:me.Offset+len(me.Text)] != me.Text {
				t.Errorf("offset %d does not point at %q in %q", me.Offset, me.Text, tt.in)
			}
			if !strings.Contains(err.Error(), me.Text) {
				t.Errorf("message %q does not name the segment", err)
			}
		})
	}
}

func TestModelStringApply(t *testing.T) {
	ms, err := ParseModelString("logos-v1__policy_privacy=LOCAL_quality=8")
	if err != nil {
		t.Fatal(err)
	}
	got := ms.Apply(DefaultPolicy())
	want := Policy{ThresholdPrivacy: "LOCAL", Cost: -1024, Quality: 8}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Apply (-want +got):\n%s", diff)
	}
}

func FuzzParseModelString(f *testing.F) {
	for _, s := range []string{"logos-v1", "logos-v1__policy_default=false_privacy=LOCAL", "logos-v2.1__policy_default=false_accuracy=5_cost=3__policy=x", "logos-v1__policy_privacy=CLOUD_IN_EU_BY_US_PROVIDER__cost=-8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseModelString(s)
		if err != nil {
			var me *ModelStringError
			if !errors.As(err, &me) || !errors.Is(err, ErrInvalidModelString) {
				t.Fatalf("error %v is not a *ModelStringError", err)
			}
			if me.Offset < 0 || me.Offset+len(me.Text) > len(s) || s[me.Offset:me.Offset+len(me.Text)] != me.Text {
				t.Fatalf("%q: offset %d / text %q do not match the input", s, me.Offset, me.Text)
			}
			return
		}
		if !strings.HasPrefix(s, ModelStringPrefix) || ms.Version == "" {
			t.Fatalf("%q parsed without prefix or version: %+v", s, ms)
		}
		if ms.Privacy != nil && !validPrivacy(*ms.Privacy) {
			t.Fatalf("%q: invalid privacy %q accepted", s, *ms.Privacy)
		}
		set := ms.Privacy != nil || ms.Latency != nil || ms.Accuracy != nil || ms.Cost != nil || ms.Quality != nil
		if set == ms.Default {
			t.Fatalf("%q: Default=%v but keys set=%v", s, ms.Default, set)
		}
	})
}
