package scheduler_test

import (
	"fmt"

	"github.com/logos-llm/logos/scheduler"
)

func ExampleParsePriority() {
	for _, s := range []string{"critical", " Low ", "medium", "10", "unknown"} {
		fmt.Println(scheduler.ParsePriority(s))
	}
	// Output:
	// high
	// low
	// normal
	// high
	// normal
}

func ExamplePriorityFromInt() {
	for _, n := range []int{0, 1, 4, 5, 8, 10} {
		fmt.Println(n, scheduler.PriorityFromInt(n))
	}
	// Output:
	// 0 normal
	// 1 low
	// 4 normal
	// 5 normal
	// 8 high
	// 10 high
}
