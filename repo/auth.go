package repo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// GitHubAppConfig identifies a GitHub App installation.
type GitHubAppConfig struct {
	AppID          int64
	InstallationID int64
	// PrivateKey is the App's PEM key; PrivateKeyPath is read when it is empty.
	PrivateKey     []byte
	PrivateKeyPath string
	// APIURL is the REST API root: https://api.github.com, a GitHub
	// Enterprise URL such as https://ghe.example.com/api/v3, or a test server.
	APIURL string
	// Transport carries the token requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// GitHubApp authenticates git over HTTPS with installation tokens of a
// GitHub App. Tokens are cached and renewed a minute before they expire, so
// a sync every few seconds costs one token request an hour.
type GitHubApp struct {
	tr *ghinstallation.Transport
}

// NewGitHubApp checks cfg and loads the key; it makes no request yet.
func NewGitHubApp(cfg GitHubAppConfig) (*GitHubApp, error) {
	if cfg.AppID <= 0 || cfg.InstallationID <= 0 {
		return nil, errors.New("repo: GITHUB_APP_ID and GITHUB_INSTALLATION_ID must be positive numbers")
	}
	key := cfg.PrivateKey
	if len(key) == 0 {
		if cfg.PrivateKeyPath == "" {
			return nil, errors.New("repo: GITHUB_PRIVATE_KEY_PATH is required for GitHub App authentication")
		}
		var err error
		if key, err = os.ReadFile(cfg.PrivateKeyPath); err != nil {
			return nil, fmt.Errorf("read GitHub App key: %w", err)
		}
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr, err := ghinstallation.New(base, cfg.AppID, cfg.InstallationID, key)
	if err != nil {
		return nil, fmt.Errorf("load GitHub App key: %w", err)
	}
	if cfg.APIURL != "" {
		tr.BaseURL = strings.TrimRight(cfg.APIURL, "/")
	}
	return &GitHubApp{tr: tr}, nil
}

// AuthMethod returns basic auth with the current installation token; GitHub
// expects the user name x-access-token.
func (a *GitHubApp) AuthMethod(ctx context.Context) (transport.AuthMethod, error) {
	token, err := a.tr.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("installation token: %w", err)
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: token}, nil
}

// Token returns the current installation token, for API clients (check runs)
// that share the App's credentials.
func (a *GitHubApp) Token(ctx context.Context) (string, error) {
	return a.tr.Token(ctx)
}

// TokenAuth is HTTPS basic auth with a static token (a personal access token
// or a deploy token).
type TokenAuth struct {
	Username string // default x-access-token
	Token    string
}

// AuthMethod implements AuthProvider.
func (t TokenAuth) AuthMethod(context.Context) (transport.AuthMethod, error) {
	user := t.Username
	if user == "" {
		user = "x-access-token"
	}
	return &githttp.BasicAuth{Username: user, Password: t.Token}, nil
}

// SSHKeyAuth authenticates with a deploy key. Host keys are checked against
// KnownHostsPath (or the user's known_hosts files when empty); a sync never
// trusts an unknown host.
type SSHKeyAuth struct {
	auth *gitssh.PublicKeys
}

// NewSSHKeyAuth loads the private key at keyPath.
func NewSSHKeyAuth(keyPath, passphrase, knownHostsPath string) (*SSHKeyAuth, error) {
	keys, err := gitssh.NewPublicKeysFromFile("git", keyPath, passphrase)
	if err != nil {
		return nil, fmt.Errorf("load SSH key %s: %w", keyPath, err)
	}
	var files []string
	if knownHostsPath != "" {
		files = append(files, knownHostsPath)
	}
	cb, err := gitssh.NewKnownHostsCallback(files...)
	if err != nil {
		return nil, fmt.Errorf("load known hosts: %w", err)
	}
	keys.HostKeyCallback = cb
	return &SSHKeyAuth{auth: keys}, nil
}

// AuthMethod implements AuthProvider.
func (s *SSHKeyAuth) AuthMethod(context.Context) (transport.AuthMethod, error) {
	return s.auth, nil
}
