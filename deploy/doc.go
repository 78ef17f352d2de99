// Package deploy holds the tests of what a team deploys: the Dockerfile's
// image, docker-compose.yaml with .env.example, and the reverse-proxy
// configurations under deploy/. They drive the real tools a user runs (the
// Docker engine, the Compose CLI, nginx), on images built locally by
// scripts/image.sh, so the shipped files are the tested ones.
package deploy
