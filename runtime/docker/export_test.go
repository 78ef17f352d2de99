package docker

import (
	"time"

	"github.com/docker/docker/client"
)

// API exposes the underlying client to the tests, which check what the
// daemon made of a request.
func API(c *Client) *client.Client { return c.api }

// SetBackoff shortens the retry policy for tests of the retries.
func SetBackoff(c *Client, attempts int, initial time.Duration) {
	c.retry = backoff{attempts: attempts, initial: initial}
}
