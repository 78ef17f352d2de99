package status

import "time"

// Delivery is one received GitHub webhook delivery, keyed by its
// X-GitHub-Delivery ID.
type Delivery struct {
	ID         string
	Event      string
	ReceivedAt time.Time
}
