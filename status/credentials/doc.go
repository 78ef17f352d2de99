// Package credentials makes and checks the secrets people and programs log
// in with: bcrypt password hashes, random bearer tokens stored as SHA-256
// hashes, and the first administrator created on first start.
//
// It lives under status because what it produces is stored there
// (status.AuthStore keeps only hashes); the web UI and the admin commands of
// cmd/fastflow both use it, so a token the CLI prints is one the API accepts.
//
// Tokens are hashed with a single SHA-256, not bcrypt: they carry 256 bits
// of randomness, so a slow hash adds nothing but latency to every API call,
// and a plain hash lets the store look them up by an index.
package credentials
