package providertest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/logos-llm/logos/providers"
)

// NewAzure starts an upstream speaking the Azure OpenAI data-plane API:
//
//   - POST /openai/deployments/{deployment}/chat/completions: the shared
//     recordings azure_sync.json and, with "stream": true,
//     azure_streaming.txt (its last chunk carries usage 15/10/25).
//     Options.ChatJSON and ChatStream replace them; without overrides the
//     test is skipped when the shared fixtures are absent.
//   - POST /openai/deployments/{deployment}/embeddings: openai_embeddings.json.
//   - POST /openai/responses: the Responses API (responses_sync.json or the
//     event stream responses_streaming.txt); the body's "model" names the
//     deployment and api-version must be 2025-03-01-preview or later.
//   - GET /openai/models: azure_models.json.
//
// Every request needs an api-version query parameter (404 "Resource not
// found" otherwise; Options.APIVersion, when set, is the only one accepted
// for deployment operations) and, when Options.Credential is set, the
// "api-key" header (or "Authorization: Bearer"); an unknown deployment gets
// 404 DeploymentNotFound. Options.Status answers Azure's real errors: 429
// with "Requests to the ChatCompletions_Create Operation ... have exceeded
// call rate limit ...", Retry-After, retry-after-ms and x-ratelimit-*
// headers; 400 with the content_filter error; 401, 404, and 500 otherwise.
// Every response carries apim-request-id, x-ms-region and
// x-ratelimit-remaining-requests/-tokens headers.
func NewAzure(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.ChatJSON == nil {
		opts.ChatJSON = SharedFixture(tb, "azure_sync.json")
	}
	if opts.ChatStream == nil {
		opts.ChatStream = SharedFixture(tb, "azure_streaming.txt")
	}
	return newServer(tb, providers.KindAzure, opts, serveAzure)
}

func serveAzure(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	h.Set("Apim-Request-Id", "5b3a6c1e-8f2d-4a7b-9c0e-1d2f3a4b5c6d")
	h.Set("X-Request-Id", "8e6f0c2a-1b3d-4e5f-a6b7-c8d9e0f1a2b3")
	h.Set("X-Ms-Region", "Sweden Central")
	h.Set("X-Ratelimit-Limit-Requests", "100")
	h.Set("X-Ratelimit-Limit-Tokens", "100000")
	h.Set("X-Ratelimit-Remaining-Requests", "99")
	h.Set("X-Ratelimit-Remaining-Tokens", "99980")

	if s.opts.Credential != "" && r.Header.Get("Api-Key") != s.opts.Credential &&
		r.Header.Get("Authorization") != "Bearer "+s.opts.Credential {
		s.azureError(w, r, http.StatusUnauthorized, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
		return
	}
	version := r.URL.Query().Get("api-version")
	if version == "" {
		s.azureError(w, r, http.StatusNotFound, "404", "Resource not found")
		return
	}
	rb, bodyOK := parseBody(body)

	path := r.URL.EscapedPath()
	var op, deployment, method string
	switch {
	case path == "/openai/responses":
		op, method = "responses", http.MethodPost
		if version[:min(len(version), 10)] < "2025-03-01" {
			s.azureError(w, r, http.StatusBadRequest, "BadRequest", "Azure OpenAI Responses API is enabled only for api-version 2025-03-01-preview and later")
			return
		}
		deployment = rb.Model
	case path == "/openai/models":
		op, method = "models", http.MethodGet
	case strings.HasPrefix(path, "/openai/deployments/"):
		rest := strings.TrimPrefix(path, "/openai/deployments/")
		dep, o, _ := strings.Cut(rest, "/")
		d, err := url.PathUnescape(dep)
		if err != nil || d == "" {
			s.azureError(w, r, http.StatusNotFound, "404", "Resource not found")
			return
		}
		deployment, op, method = d, o, http.MethodPost
		if o != "chat/completions" && o != "embeddings" {
			s.azureError(w, r, http.StatusNotFound, "404", "Resource not found")
			return
		}
		if s.opts.APIVersion != "" && version != s.opts.APIVersion {
			s.azureError(w, r, http.StatusNotFound, "404", "Resource not found")
			return
		}
	default:
		s.azureError(w, r, http.StatusNotFound, "404", "Resource not found")
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		s.azureError(w, r, http.StatusMethodNotAllowed, "405", "Method not allowed")
		return
	}
	if !bodyOK {
		s.azureError(w, r, http.StatusBadRequest, "BadRequest", "Invalid JSON body")
		return
	}
	if method == http.MethodPost && s.opts.Deployment != "" && deployment != s.opts.Deployment {
		s.azureError(w, r, http.StatusNotFound, "DeploymentNotFound", "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.")
		return
	}
	model := s.model(rb, "gpt-4o")
	if s.opts.Status != 0 {
		s.azureStatus(w, r, s.opts.Status, version)
		return
	}
	switch op {
	case "chat/completions":
		s.serveChat(w, r, rb, model, s.opts.ChatJSON, nil, s.opts.ChatStream, nil, nil)
	case "embeddings":
		s.writeJSON(w, r, http.StatusOK, contentJSON, WithModel(mustFixture("openai_embeddings.json"), model))
	case "responses":
		s.serveResponses(w, r, rb, model)
	case "models":
		s.writeJSON(w, r, http.StatusOK, contentJSON, mustFixture("azure_models.json"))
	}
}

// azureError writes Azure's {"error":{"code","message"}} error shape.
func (s *Server) azureError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	body := fmt.Appendf(nil, `{"error":{"code":%s,"message":%s}}`+"\n", jsonString(code), jsonString(message))
	s.writeJSON(w, r, status, contentJSON, body)
}

// azureStatus writes Azure's real error for status.
func (s *Server) azureStatus(w http.ResponseWriter, r *http.Request, status int, version string) {
	switch status {
	case http.StatusTooManyRequests:
		h := w.Header()
		h.Set("Retry-After", "6")
		h.Set("Retry-After-Ms", "6000")
		h.Set("X-Ratelimit-Remaining-Requests", "0")
		h.Set("X-Ratelimit-Remaining-Tokens", "0")
		s.azureError(w, r, status, "429", fmt.Sprintf("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version %s have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.", version))
	case http.StatusBadRequest:
		s.writeJSON(w, r, status, contentJSON, mustFixture("azure_content_filter.json"))
	case http.StatusUnauthorized:
		s.azureError(w, r, status, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
	case http.StatusNotFound:
		s.azureError(w, r, status, "DeploymentNotFound", "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.")
	default:
		body := fmt.Appendf(nil, `{"error":{"message":%s,"type":"server_error","param":null,"code":null}}`+"\n",
			jsonString("The server had an error processing your request. Sorry about that! You can retry your request, or contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 if you keep seeing this error."))
		s.writeJSON(w, r, status, contentJSON, body)
	}
}
