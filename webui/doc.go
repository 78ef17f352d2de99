// Package webui is Fast-Flow's HTTP surface: the status pages, the JSON API
// under /api, the GitHub webhook receiver and the health endpoints.
package webui
