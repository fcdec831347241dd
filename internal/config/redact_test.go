package config

import "testing"

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                       "",
		"https://api.openai.com/v1":              "https://api.openai.com/v1",
		"https://u:p@host/path?token=x":          "https://REDACTED@host/path?token=REDACTED",
		"https://u@host:8443":                    "https://REDACTED@host:8443",
		"http://host/?a=1&b=2&c":                 "http://host/?a=REDACTED&b=REDACTED&c=REDACTED",
		"http://host/p#frag":                     "http://host/p#REDACTED",
		"chat/completions?api-key=k":             "chat/completions?api-key=REDACTED",
		"http://[::1:8080/?token=x":              Redacted,
		"https://host/v1?api-version=2024-10-21": "https://host/v1?api-version=REDACTED",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := keepRedactedURL("https://u:p@h/?t=1", "https://REDACTED@h/?t=REDACTED"); got != "https://u:p@h/?t=1" {
		t.Errorf("keepRedactedURL kept %q", got)
	}
	if got := keepRedactedURL("https://u:p@h/?t=1", "https://h/"); got != "https://h/" {
		t.Errorf("keepRedactedURL of a new URL: %q", got)
	}
}
