package node

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
)

// Caller is the authenticated identity at the other end of a gRPC call: the
// key of the single self-signed certificate it presented at the TLS
// handshake (which TLSConfig has already pinned), its did:key and the
// certificate's common name.
type Caller struct {
	DID  string
	Key  ed25519.PublicKey
	Name string
}

// Peer returns the caller as an engine peer; its name is the certificate's
// common name, or its did:key if that is empty.
func (c Caller) Peer() engine.Peer {
	name := c.Name
	if name == "" {
		name = c.DID
	}
	return engine.Peer{Name: name, Key: slices.Clone(c.Key)}
}

// CallerFrom returns the authenticated caller of a gRPC call. It fails with
// codes.Unauthenticated if the call did not come over mutual TLS.
func CallerFrom(ctx context.Context) (Caller, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Caller{}, status.Error(codes.Unauthenticated, "node: no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Caller{}, status.Error(codes.Unauthenticated, "node: the call did not come over TLS")
	}
	return callerOf(info.State)
}

func callerOf(st tls.ConnectionState) (Caller, error) {
	if len(st.PeerCertificates) != 1 {
		return Caller{}, status.Errorf(codes.Unauthenticated, "node: %d peer certificates, want 1", len(st.PeerCertificates))
	}
	cert := st.PeerCertificates[0]
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return Caller{}, status.Error(codes.Unauthenticated, "node: the peer's key is not Ed25519")
	}
	return Caller{DID: identity.DID(pub), Key: slices.Clone(pub), Name: cert.Subject.CommonName}, nil
}

// role is what a caller may do at a node: take tasks (a participant) or
// submit jobs (a researcher).
type role int

const (
	roleNone role = iota
	roleSite
	roleResearcher
)

// serviceRoles says which role each gRPC service needs; the health and
// reflection services are open to every pinned peer.
var serviceRoles = map[string]role{
	"/cohort.node.v1.Tasks/": roleSite,
	"/cohort.node.v1.Jobs/":  roleResearcher,
}

// authorizer checks every call against the config's allowlists: the TLS
// handshake admitted anyone in peers or researchers; a service is open
// only to its role.
type authorizer struct {
	sites, researchers []string
}

func (a *authorizer) check(ctx context.Context, method string) error {
	need := roleNone
	for prefix, r := range serviceRoles {
		if len(method) >= len(prefix) && method[:len(prefix)] == prefix {
			need = r
		}
	}
	if need == roleNone {
		return nil
	}
	c, err := CallerFrom(ctx)
	if err != nil {
		return err
	}
	switch {
	case need == roleSite && slices.Contains(a.sites, c.DID):
	case need == roleResearcher && slices.Contains(a.researchers, c.DID):
	case need == roleSite:
		return status.Errorf(codes.PermissionDenied, "node: %s is not a peer of this node (not in peers)", c.DID)
	default:
		return status.Errorf(codes.PermissionDenied, "node: %s may not submit jobs here (not in researchers)", c.DID)
	}
	return nil
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := a.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// ClientTLS is the TLS configuration with which key dials the node whose
// did:key is nodeDID: a self-signed certificate for key made on the spot,
// and the node pinned.
func ClientTLS(key ed25519.PrivateKey, name, nodeDID string, rand io.Reader) (*tls.Config, error) {
	if _, err := identity.ParseDID(nodeDID); err != nil {
		return nil, fmt.Errorf("node: the node's did:key: %w", err)
	}
	cert, err := Certificate(key, name, rand)
	if err != nil {
		return nil, err
	}
	return TLSConfig(cert, []string{nodeDID}, nil), nil
}

// Dial opens a gRPC connection, authenticated both ways, from key to the
// node at addr whose did:key is nodeDID. Researchers' commands use it.
func Dial(addr, nodeDID string, key ed25519.PrivateKey, name string, rand io.Reader) (*grpc.ClientConn, error) {
	cfg, err := ClientTLS(key, name, nodeDID, rand)
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage), grpc.MaxCallSendMsgSize(maxGRPCMessage)))
}

// maxGRPCMessage bounds every gRPC message a node sends or accepts: one
// engine frame (1 MiB of payload and its header) and the protobuf
// wrapping, or a job file.
const maxGRPCMessage = engine.MaxFrame + 4096

// errStatus maps the node's and the engine's errors to gRPC status codes.
func errStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, engine.ErrJob), errors.Is(err, engine.ErrMalformed), errors.Is(err, ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, engine.ErrRefused):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, engine.ErrNoJob), errors.Is(err, ErrNoJob):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, engine.ErrFinished):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// Errors of the node's services.
var (
	// ErrInvalid is a request that cannot be served as it is.
	ErrInvalid = errors.New("node: invalid request")
	// ErrNoJob is a job ID the node does not know.
	ErrNoJob = errors.New("node: no such job")
)
