package ui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/logos-llm/logos/router/ui"
)

// Mount the dashboard under ui.Prefix of a mux of your own.
func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle("GET "+ui.Prefix, ui.Handler())
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/ui/", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output: 200 text/html; charset=utf-8
}
