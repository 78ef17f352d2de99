// Package schemas holds pipeline.schema.json, the single source of truth for a pipeline's
// pipeline.json, embedded and compiled once, and Spec, the Go type that mirrors it.
//
// Validation happens in three layers, each reported as a Violation with a JSON pointer and
// a message meant for the pipeline's author: JSON syntax (with line and column), the
// schema (unknown fields, types, bounds; the library's nested errors are flattened to their
// leaves and reworded), and the semantic rules the schema cannot express (Spec.Validate:
// cron expressions, time zones, intervals, parameter defaults, soft versus hard limits).
package schemas
