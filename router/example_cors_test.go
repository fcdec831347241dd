package router_test

import (
	"fmt"

	"github.com/logos-llm/logos/router"
)

func ExampleParseCORSOrigins() {
	origins, err := router.ParseCORSOrigins("https://App.example.com/, http://localhost:3000")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(origins)
	_, err = router.ParseCORSOrigins("app.example.com")
	fmt.Println(err)
	// Output:
	// [https://app.example.com http://localhost:3000]
	// invalid CORS origin "app.example.com": want "*" or scheme://host[:port]
}
