package clock_test

import (
	"fmt"
	"time"

	"github.com/logos-llm/logos/scheduler/clock"
)

func ExampleFake() {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(start)
	c.AfterFunc(2*time.Second, func() { fmt.Println("second timer at", c.Now().Sub(start)) })
	c.AfterFunc(time.Second, func() { fmt.Println("first timer at", c.Now().Sub(start)) })
	c.Advance(5 * time.Second)
	fmt.Println("now", c.Now().Sub(start))
	// Output:
	// first timer at 1s
	// second timer at 2s
	// now 5s
}
