// Package memory is an in-memory status.Store for tests of the packages
// that use a store. It passes the same conformance suite as the SQL stores
// (status/storetest), so a test that passes against it means something, but
// it keeps nothing across restarts and is not for production.
package memory
