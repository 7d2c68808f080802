package graphsim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/recording"
	"github.com/groupwriteback/groupwriteback/internal/testca"
)

// Options start an emulator.
type Options struct {
	// Addr is the listen address; "127.0.0.1:0" picks a free port.
	Addr string
	// Tenant is the tenant to serve.
	Tenant *TenantFile
	// CertDir receives ca.pem, the CA that signed the server certificate.
	CertDir string
	// Faults to inject from the start.
	Faults Faults
	Logger *slog.Logger
	// Replay, when set, answers Graph requests from a recording (made by
	// `groupwriteback cloud record`) instead of from a tenant: Tenant is
	// not needed, and the recorded app signs in with the secret "replay".
	Replay *recording.Recording
}

// Instance is a running emulator.
type Instance struct {
	// URL is the base URL of both Graph and the authority, e.g.
	// https://127.0.0.1:41234.
	URL string
	// CAFile is the path of the PEM CA certificate clients must trust.
	CAFile string
	// CA is the certificate authority itself.
	CA     *testca.CA
	Server *Server
	http   *http.Server
	done   chan error
	once   sync.Once
	err    error
}

// Start serves a tenant over HTTPS until Close.
func Start(opts Options) (*Instance, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Replay != nil {
		opts.Tenant = &TenantFile{TenantID: opts.Replay.TenantID, Applications: []Application{{AppID: opts.Replay.ClientID,
			PasswordCredentials: []PasswordCredential{{SecretText: ReplaySecret}}}}}
	}
	tenant, err := NewTenant(opts.Tenant)
	if err != nil {
		return nil, err
	}
	srv, err := NewServer(tenant, opts.Logger)
	if err != nil {
		return nil, err
	}
	if opts.Replay != nil {
		srv.player = recording.NewPlayer(opts.Replay)
	}
	srv.SetFaults(opts.Faults)
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("graphsim: listen: %w", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ca, err := testca.New("graphsim CA")
	if err != nil {
		ln.Close()
		return nil, err
	}
	names := []string{host, "localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		names = append(names, h)
	}
	cert, err := ca.Server(names...)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if opts.CertDir == "" {
		opts.CertDir, err = os.MkdirTemp("", "graphsim-")
		if err != nil {
			ln.Close()
			return nil, err
		}
	}
	// Notifications go to HTTPS endpoints: trusted are the system's roots
	// and this CA, which tests sign their endpoints' certificates with.
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	roots.AppendCertsFromPEM(ca.CertPEM())
	srv.TrustNotificationRoots(roots)
	caFile, err := ca.WriteFile(opts.CertDir, "ca.pem")
	if err != nil {
		ln.Close()
		return nil, err
	}
	urlHost := host
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		urlHost = "[" + host + "]"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		urlHost = "127.0.0.1"
	}
	inst := &Instance{
		URL: "https://" + urlHost + ":" + port, CAFile: caFile, CA: ca, Server: srv,
		http: &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12},
			ErrorLog:  slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug)},
		done: make(chan error, 1),
	}
	go func() { inst.done <- inst.http.ServeTLS(ln, "", "") }()
	return inst, nil
}

// Close stops the emulator at once, dropping open connections. Calling it
// again does nothing.
func (i *Instance) Close() error {
	i.once.Do(func() {
		i.err = i.http.Close()
		if serr := <-i.done; !errors.Is(serr, http.ErrServerClosed) && i.err == nil {
			i.err = serr
		}
	})
	return i.err
}

// CloudConfig is the cloud section of a groupwriteback configuration (YAML)
// that signs in to this emulator as the app clientID with its secret.
func (i *Instance) CloudConfig(tenantID, clientID, secret string) string {
	return fmt.Sprintf("cloud:\n  tenant_id: %s\n  client_id: %s\n  client_secret: %s\n  graph_url: %s\n  authority_url: %s\n  ca_file: %s\n",
		tenantID, clientID, secret, i.URL, i.URL, i.CAFile)
}
