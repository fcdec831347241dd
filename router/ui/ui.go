// Package ui is the Logos dashboard: a static single-page application
// embedded in the binary and served under /ui/. It has no server-side logic
// of its own: the page signs in with a Logos key kept in the browser's
// sessionStorage and reads everything from the /logosdb statistics and admin
// endpoints, which enforce the caller's scope. The charts are drawn by a
// small SVG module (static/chart.js) without third-party code, so the
// dashboard works offline and needs no build step.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is the path the dashboard is served under.
const Prefix = "/ui/"

// Handler returns the handler of the dashboard's files. It expects request
// paths starting with Prefix; "/ui/" serves index.html. Responses carry a
// Content-Security-Policy that only allows the page's own scripts, styles and
// same-origin requests.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	files := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
