package kubernetes

import "k8s.io/client-go/kubernetes"

// API exposes the client's clientset to the tests, which look behind the
// runtime contract (the pods of a Job).
func API(c *Client) kubernetes.Interface { return c.api }
