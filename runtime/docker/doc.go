// Package docker runs pipeline containers on a Docker engine through the
// docker/docker API client.
//
// For now it holds the connection to the daemon and the liveness probe that
// /health reports; the container lifecycle of the runtime contract is added
// here as it is written, on the same Client, so every caller shares one
// connection and one negotiated API version.
//
// The client negotiates the API version with the daemon on first use. That is
// what lets one binary talk to Debian's dockerd 20.10 (API 1.41) as well as a
// current engine; without it the client's newer default version is refused
// by an older daemon.
package docker
