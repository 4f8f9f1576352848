package node

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/identity"
)

func initNode(t *testing.T, name string) *Identity {
	t.Helper()
	id, err := Init(filepath.Join(t.TempDir(), name), name, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestInit(t *testing.T) {
	id := initNode(t, "st-marys")
	st, err := os.Stat(filepath.Join(id.Dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	if pub, err := identity.ParseDID(id.DID); err != nil || !pub.Equal(id.Key.Public()) {
		t.Fatalf("did %s: %v", id.DID, err)
	}
	cfg, err := LoadConfig(id.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "st-marys" || cfg.Listen != "127.0.0.1:7400" || len(cfg.Peers) != 0 {
		t.Fatalf("config %+v", cfg)
	}
	b, _ := os.ReadFile(filepath.Join(id.Dir, ConfigFile))
	if !strings.Contains(string(b), "# This node is "+id.DID+"\n") {
		t.Fatalf("config does not name the node:\n%s", b)
	}
	cert, err := LoadTLS(id.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if did, err := PeerDID(cert.Certificate, time.Now()); err != nil || did != id.DID {
		t.Fatalf("certificate names %s (%v), want %s", did, err, id.DID)
	}
	if _, err := Init(id.Dir, "again", time.Now(), rand.Reader); err == nil {
		t.Fatal("Init overwrote a node's identity")
	}
	if _, err := Init(filepath.Join(t.TempDir(), "x"), "", time.Now(), rand.Reader); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty name: %v", err)
	}
}

func TestParseConfigRefuses(t *testing.T) {
	did := initNode(t, "a").DID
	for _, c := range []struct{ toml, want string }{
		{`name = "a"` + "\nport = 1\n", "unknown key port"},
		{`name = ""`, "name is empty"},
		{`name = "a"` + "\nlisten = \"7400\"\n", "listen = \"7400\""},
		{`name = "a"` + "\nlisten = \":7400\"\n", "no host"},
		{`name = "a"` + "\npeers = [\"did:key:zzz\"]\n", "peers[0]"},
		{`name = "a"` + "\nresearchers = [\"" + did + "x\"]\n", "researchers[0]"},
		{`name = "a"` + "\n[[aggregator]]\naddress = \"h:1\"\ndid = \"nope\"\n", "aggregator[0].did"},
		{`name = "a"` + "\n[[aggregator]]\naddress = \"h:99999\"\ndid = \"" + did + "\"\n", "aggregator[0].address"},
		{`name = "a`, "node: config"},
	} {
		_, err := ParseConfig([]byte(c.toml))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error naming %q", c.toml, err, c.want)
		}
	}
	cfg, err := ParseConfig([]byte(`name = "a"` + "\npeers = [\"" + did + "\"]\n[[aggregator]]\naddress = \"agg.example:7400\"\ndid = \"" + did + "\"\n"))
	if err != nil || len(cfg.Peers) != 1 || cfg.Aggregators[0].Address != "agg.example:7400" {
		t.Fatalf("%+v %v", cfg, err)
	}
}

// handshakeResult is each side's error and the refusals they logged.
type handshakeResult struct {
	server, client error
	refusals       []string
}

// handshake runs a mutual-TLS handshake over loopback between a server
// allowing serverAllows and a client allowing clientAllows.
func handshake(t *testing.T, server, client *Identity, serverAllows, clientAllows []string) handshakeResult {
	t.Helper()
	var mu sync.Mutex
	var refusals []string
	refused := func(did string, err error) {
		mu.Lock()
		defer mu.Unlock()
		refusals = append(refusals, did+": "+err.Error())
	}
	sc, err := LoadTLS(server.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := LoadTLS(client.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", TLSConfig(sc, serverAllows, refused))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serr <- err
			return
		}
		defer c.Close()
		err = c.(*tls.Conn).Handshake()
		if err == nil {
			_, err = io.WriteString(c, "hello")
		}
		serr <- err
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), TLSConfig(cc, clientAllows, refused))
	var cerr error
	if err != nil {
		cerr = err
	} else {
		// With TLS 1.3 the client learns of a refused certificate on its
		// first read.
		b := make([]byte, 5)
		_, cerr = io.ReadFull(c, b)
		c.Close()
	}
	se := <-serr
	mu.Lock()
	defer mu.Unlock()
	return handshakeResult{se, cerr, refusals}
}

func TestPinnedMutualTLS(t *testing.T) {
	agg, hosp, stranger := initNode(t, "agg"), initNode(t, "hosp"), initNode(t, "stranger")
	// Both pinned: the handshake succeeds both ways.
	if r := handshake(t, agg, hosp, []string{hosp.DID}, []string{agg.DID}); r.server != nil || r.client != nil || len(r.refusals) != 0 {
		t.Fatalf("pinned peers: %+v", r)
	}
	// An unlisted client is refused by the server, which says who and why.
	r := handshake(t, agg, stranger, []string{hosp.DID}, []string{agg.DID})
	if !errors.Is(r.server, ErrPeer) || r.client == nil {
		t.Fatalf("unlisted client: %+v", r)
	}
	if len(r.refusals) != 1 || !strings.HasPrefix(r.refusals[0], stranger.DID+": ") || !strings.Contains(r.refusals[0], "not in the allowlist") {
		t.Fatalf("refusals %v", r.refusals)
	}
	// A client that expects another aggregator refuses this one.
	r = handshake(t, agg, hosp, []string{hosp.DID}, []string{stranger.DID})
	if !errors.Is(r.client, ErrPeer) || r.server == nil || len(r.refusals) != 1 || !strings.HasPrefix(r.refusals[0], agg.DID) {
		t.Fatalf("unexpected aggregator: %+v", r)
	}
}

func TestPeerDIDRefuses(t *testing.T) {
	id := initNode(t, "a")
	cert, err := LoadTLS(id.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PeerDID(nil, time.Now()); !errors.Is(err, ErrPeer) {
		t.Fatalf("no certificate: %v", err)
	}
	if _, err := PeerDID([][]byte{cert.Certificate[0], cert.Certificate[0]}, time.Now()); !errors.Is(err, ErrPeer) {
		t.Fatalf("two certificates: %v", err)
	}
	if _, err := PeerDID([][]byte{{1, 2, 3}}, time.Now()); !errors.Is(err, ErrPeer) {
		t.Fatalf("garbage: %v", err)
	}
	if did, err := PeerDID(cert.Certificate, time.Now().Add(20*365*24*time.Hour)); !errors.Is(err, ErrPeer) || did != id.DID {
		t.Fatalf("expired: %s %v", did, err)
	}
	// A certificate whose signature was tampered with.
	bad := append([]byte(nil), cert.Certificate[0]...)
	bad[len(bad)-3] ^= 1
	if _, err := PeerDID([][]byte{bad}, time.Now()); !errors.Is(err, ErrPeer) || !strings.Contains(err.Error(), "not self-signed") {
		t.Fatalf("forged signature: %v", err)
	}
	other := initNode(t, "b")
	der, err := SelfSignedCert(other.Key, "b", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if did, err := PeerDID([][]byte{der}, time.Now()); err != nil || did != other.DID {
		t.Fatalf("own certificate: %s %v", did, err)
	}
}
