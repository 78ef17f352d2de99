// Package runtime is the boundary between the operator and whatever executes
// pipeline containers. Backends live in sub-packages named for their
// dependency, such as runtime/docker.
package runtime
