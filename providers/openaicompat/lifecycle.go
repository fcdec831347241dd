package openaicompat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/logos-llm/logos/providers"
)

var _ providers.Sleeper = (*Provider)(nil)

// ErrControlStatus is wrapped by PostControl's error for a non-2xx status.
var ErrControlStatus = errors.New("unexpected status")

// Sleep puts a vLLM server started with --enable-sleep-mode (and
// VLLM_SERVER_DEV_MODE=1) to sleep: POST {server}/sleep?level=N. See
// providers.Sleeper for how the server is found.
func (*Provider) Sleep(ctx context.Context, client *http.Client, t providers.Target, o providers.PollOptions, level int) error {
	if !o.SleepMode {
		return fmt.Errorf("openaicompat: sleep mode is off: %w", providers.ErrUnsupported)
	}
	if level != 2 {
		level = 1
	}
	u, err := ServerURL("openaicompat", t, o, "/metrics", "sleep")
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("level", strconv.Itoa(level))
	u.RawQuery = q.Encode()
	return PostControl(ctx, client, "openaicompat", u, t, nil, BearerAuth())
}

// Wake wakes a sleeping vLLM server: POST {server}/wake_up.
func (*Provider) Wake(ctx context.Context, client *http.Client, t providers.Target, o providers.PollOptions) error {
	if !o.SleepMode {
		return fmt.Errorf("openaicompat: sleep mode is off: %w", providers.ErrUnsupported)
	}
	u, err := ServerURL("openaicompat", t, o, "/metrics", "wake_up")
	if err != nil {
		return err
	}
	return PostControl(ctx, client, "openaicompat", u, t, nil, BearerAuth())
}

// ServerURL returns the path p of the server behind t: below o.AdminURL
// without a trailing adminSuffix when it is set, else below t.BaseURL
// without a trailing /v1. The vLLM control endpoints (adminSuffix
// "/metrics", the monitoring URL) and Ollama's (adminSuffix "/v1") are found
// this way. pkg prefixes errors, which never contain the credential.
func ServerURL(pkg string, t providers.Target, o providers.PollOptions, adminSuffix, p string) (*url.URL, error) {
	raw, suffix := o.AdminURL, adminSuffix
	if strings.TrimSpace(raw) == "" {
		raw, suffix = t.BaseURL, "/v1"
	}
	u, err := ParseBaseURL(raw, t.Credential)
	if err != nil {
		return nil, errorf(t.Credential, "%s: server URL: %v", pkg, err)
	}
	root, _ := TrimPathSuffix(u, suffix)
	if u, err = JoinPath(root, p); err != nil {
		return nil, errorf(t.Credential, "%s: server URL: %v", pkg, err)
	}
	return u, nil
}

// PostControl sends POST u with body (none when nil) and t's credential
// (def when t names no auth header), and succeeds on any 2xx answer. pkg
// prefixes errors, which never contain the credential or u's user
// information.
func PostControl(ctx context.Context, client *http.Client, pkg string, u *url.URL, t providers.Target, body []byte, def DefaultAuth) error {
	req, err := NewHTTPRequest(ctx, pkg, http.MethodPost, u, t, providers.Call{Method: http.MethodPost, Body: body}, def)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return errorf(t.Credential, "%s: POST %s: %v", pkg, logURL(u), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: POST %s: %w %d", pkg, logURL(u), ErrControlStatus, resp.StatusCode)
	}
	return nil
}
