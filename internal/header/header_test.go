package header

import "testing"

func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{
		"Authorization": true, "api-key": true, "X-Api_Key.v2": true, "!#$%&'*+-.^_`|~": true, "0": true,
		"": false, "Bad Header": false, "colon:": false, "tab\t": false, "ü": false, "a\r\nb": false, "(x)": false,
	} {
		if got := ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}
