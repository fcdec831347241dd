package logos_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of compose.yaml the test checks.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Ports []string `yaml:"ports"`
	} `yaml:"services"`
}

// TestComposeFile checks compose.yaml (Docker is not needed): logosd and
// PostgreSQL with health checks, logosd starting once PostgreSQL is healthy,
// every secret taken from the environment, and only LOGOS_* variables logosd
// reads.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	pg, ok := c.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") || !strings.Contains(strings.Join(pg.Healthcheck.Test, " "), "pg_isready") {
		t.Errorf("postgres service: %+v", pg)
	}
	ld, ok := c.Services["logosd"]
	if !ok || ld.Build == nil {
		t.Fatalf("no logosd service built from the Dockerfile: %+v", ld)
	}
	if ld.DependsOn["postgres"].Condition != "service_healthy" {
		t.Errorf("logosd does not wait for a healthy postgres: %+v", ld.DependsOn)
	}
	if !slices.Equal(ld.Healthcheck.Test, []string{"CMD", "/usr/local/bin/logosd", "healthcheck"}) {
		t.Errorf("logosd health check = %v, want logosd healthcheck (GET /readyz)", ld.Healthcheck.Test)
	}
	if !strings.Contains(ld.Environment["LOGOS_DATABASE_URL"], "@postgres:5432/") {
		t.Errorf("LOGOS_DATABASE_URL = %q, want the postgres service", ld.Environment["LOGOS_DATABASE_URL"])
	}
	// Secrets only by reference.
	secretName := regexp.MustCompile(`PASSWORD|SECRET|KEY|TOKEN`)
	for _, svc := range []string{"postgres", "logosd"} {
		for k, v := range c.Services[svc].Environment {
			if secretName.MatchString(k) && !strings.HasPrefix(v, "${") {
				t.Errorf("%s: %s is set in the file (%q), want ${%s...} from the environment", svc, k, v, k)
			}
		}
	}
	if strings.Contains(ld.Environment["LOGOS_DATABASE_URL"], "logos:") && !strings.Contains(ld.Environment["LOGOS_DATABASE_URL"], "${POSTGRES_PASSWORD") {
		t.Error("the database URL carries a literal password")
	}
	// Every LOGOS_* variable is one logosd reads.
	var src strings.Builder
	files, _ := filepath.Glob("cmd/logosd/*.go")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		src.Write(b)
	}
	for k := range ld.Environment {
		if strings.HasPrefix(k, "LOGOS_") && !strings.Contains(src.String(), `"`+k+`"`) {
			t.Errorf("compose.yaml sets %s, which logosd does not read", k)
		}
	}
}

// TestDockerfile checks the Dockerfile's shape (Docker is not needed) and
// that logosd builds with CGO_ENABLED=0 as the image builds it.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var from, user, health, entry []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			from = append(from, line)
		case "USER":
			user = append(user, f[1])
		case "HEALTHCHECK":
			health = append(health, line)
		case "ENTRYPOINT":
			entry = append(entry, line)
		}
	}
	if len(from) < 2 {
		t.Errorf("not a multi-stage build: %v", from)
	}
	if !strings.Contains(string(raw), "CGO_ENABLED=0 go build") {
		t.Error("logosd is not built with CGO_ENABLED=0")
	}
	if len(user) == 0 || user[len(user)-1] == "0" || strings.HasPrefix(user[len(user)-1], "root") || strings.HasPrefix(user[len(user)-1], "0:") {
		t.Errorf("the image runs as %v, want a non-root user", user)
	}
	if len(health) != 1 || len(entry) != 1 || !strings.Contains(string(raw), `"/usr/local/bin/logosd", "healthcheck"`) {
		t.Errorf("HEALTHCHECK %v, ENTRYPOINT %v", health, entry)
	}
	if testing.Short() {
		t.Skip("-short: not building the static binary")
	}
	out := filepath.Join(t.TempDir(), "logosd")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/logosd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/logosd: %v\n%s", err, b)
	}
	info, err := exec.Command("go", "version", "-m", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(info), "CGO_ENABLED=0") {
		t.Errorf("build info does not record CGO_ENABLED=0:\n%s", info)
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "logosd ") {
		t.Errorf("logosd version: %v %q", err, v)
	}
}
