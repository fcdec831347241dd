package clock

import "time"

// Scaled returns a Clock whose time runs factor times faster than the wall
// clock from now on: Now advances factor seconds per real second and
// AfterFunc(d) fires after d/factor of real time. It replays a trace time
// compressed against real servers whose own delays are scaled alike (see
// providers/providertest's GPU node). A factor ≤ 0 is taken as 1.
func Scaled(factor float64) Clock {
	if factor <= 0 {
		factor = 1
	}
	return scaledClock{start: time.Now(), factor: factor}
}

type scaledClock struct {
	start  time.Time
	factor float64
}

func (c scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.start)) * c.factor))
}

func (c scaledClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(time.Duration(float64(d)/c.factor), f)
}
