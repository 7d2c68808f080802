package server

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// SyncHeader must accompany POST /sync when no token is configured. An
// HTML form cannot send it, and a script on another site cannot either
// without a CORS preflight, which this server never grants: a page on
// another site cannot start cycles.
const SyncHeader = "X-Groupwriteback"

// Guard decides who may use the server.
//
//	server:
//	  listen: 0.0.0.0:8443
//	  tls_cert_file: /etc/groupwriteback/https.pem
//	  tls_key_file: /etc/groupwriteback/https-key.pem
//	  token_file: /etc/groupwriteback/status-token
//	  allowed_hosts: [wb01.contoso.com]
type Guard struct {
	// Token, when set, must come as "Authorization: Bearer <token>" with
	// every request but /healthz and /readyz (Prometheus sends it with
	// bearer_token_file).
	Token string
	// Hosts are the names (Host header) the server answers to, besides
	// IP literals, localhost and this machine's name. A name not listed is
	// refused, which defeats DNS rebinding: a hostile page whose name
	// resolves to this machine still sends its own name.
	Hosts []string
}

// open paths answer without a token: supervisors and load balancers probe
// them.
var open = map[string]bool{"/healthz": true, "/readyz": true}

func (g Guard) wrap(next http.Handler, logger *slog.Logger) http.Handler {
	hostname, _ := os.Hostname()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostOK(w, r, hostname, logger) {
			return
		}
		if g.Token != "" && !open[r.URL.Path] {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(g.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="groupwriteback"`)
				http.Error(w, "a bearer token is required (server.token_file)", http.StatusUnauthorized)
				return
			}
		}
		if !originOK(w, r, logger) {
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && g.Token == "" && r.Header.Get(SyncHeader) == "" {
			http.Error(w, "POST needs the header "+SyncHeader+": sync (or a bearer token when server.token_file is set)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// wrapConsole guards the console: the host check, and no POST from
// another origin; its sessions, roles and CSRF tokens are its own.
func (g Guard) wrapConsole(next http.Handler, logger *slog.Logger) http.Handler {
	hostname, _ := os.Hostname()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.hostOK(w, r, hostname, logger) && originOK(w, r, logger) {
			next.ServeHTTP(w, r)
		}
	})
}

// hostOK refuses a request for a host this server does not answer to
// (DNS rebinding), and says so.
func (g Guard) hostOK(w http.ResponseWriter, r *http.Request, hostname string, logger *slog.Logger) bool {
	if g.hostAllowed(r.Host, hostname) {
		return true
	}
	logger.Warn("refused a request for a host this server does not answer to", "host", r.Host, "remote", r.RemoteAddr)
	http.Error(w, fmt.Sprintf("this server does not answer to the host %q: add it to server.allowed_hosts", r.Host), http.StatusMisdirectedRequest)
	return false
}

// originOK refuses a request that changes something sent from another
// origin, and says so.
func originOK(w http.ResponseWriter, r *http.Request, logger *slog.Logger) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		logger.Warn("refused a request from another origin", "origin", o, "path", r.URL.Path, "remote", r.RemoteAddr)
		http.Error(w, "requests from another origin are refused", http.StatusForbidden)
		return false
	}
	return true
}

func (g Guard) hostAllowed(hostport, hostname string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") || (hostname != "" && strings.EqualFold(host, hostname)) {
		return true
	}
	for _, h := range g.Hosts {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, host)
}

// TLSConfig is the server's TLS: its certificate and, with a client CA,
// mutual TLS (every client presents a certificate that CA signed).
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("server: tls_cert_file, tls_key_file: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server: client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server: client_ca_file %s holds no PEM certificate", clientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
