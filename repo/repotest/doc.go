// Package repotest writes pipeline repositories for tests, benchmarks and command-line
// harnesses: a realistic generated mix (Generate, GenerateDir) and a set with one broken
// pipeline per kind of validation problem (WriteBroken).
//
// It is a plain package, importing testing only for the tb parameters, so that benchmarks
// in any package and the fastflow command's harnesses can share one generator.
package repotest
